"""issue 13, onboarding a whole book: the import keys (kind + external id -> the row it became, as imported)

Revision ID: import_01
Revises: 0016_contracts
Create Date: 2026-12-02 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = 'import_01'
down_revision: str | None = '0016_contracts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('import_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.JSON(), nullable=False),
    sa.Column('import_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_keys')),
    sa.UniqueConstraint('kind', 'external_id', name='uq_import_keys_kind_external_id')
    )


def downgrade() -> None:
    op.drop_table('import_keys')
