"""invoices.snapshot: what an issued invoice or credit note says, frozen when it is numbered (issue 12)

Revision ID: 0013_snapshot
Revises: 0012_datev
Create Date: 2026-12-02 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_snapshot'
down_revision: str | None = '0012_datev'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Invoices issued before this have none: their doors keep reading the live rows (nothing to freeze from).
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snapshot', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('snapshot')
