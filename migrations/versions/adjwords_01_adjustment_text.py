"""issue 12, amendments: an adjustment keeps its wording as data (a key and machine values) beside its English
description, so the line it becomes is written in the client's language; rows made before it have none (NULL) and
keep their stored description

Revision ID: adjwords_01
Revises: import_01
Create Date: 2026-12-02 07:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'adjwords_01'
down_revision: str | None = 'import_01'  # on the contracts branch (0016_contracts made arrangement_adjustments)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('arrangement_adjustments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('arrangement_adjustments', schema=None) as batch_op:
        batch_op.drop_column('text')
