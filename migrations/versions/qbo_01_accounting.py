"""issue 16: the accounting sync's connection (encrypted tokens), mapping tables (our id <-> theirs, items per
arrangement kind) and its own durable queue, fanned out from the outbox's events in the same transaction

Revision ID: qbo_01
Revises: 0016_contracts
Create Date: 2026-12-02 04:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = 'qbo_01'
down_revision: str | None = '0016_contracts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = domain.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('accounting_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('realm_id', sa.String(length=40), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=False),
    sa.Column('refresh_token', sa.Text(), nullable=False),
    sa.Column('access_expires_at', UTC, nullable=True),
    sa.Column('refresh_expires_at', UTC, nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('paused_reason', sa.Text(), nullable=False),
    sa.Column('paused_at', UTC, nullable=True),
    sa.Column('connected_by', sa.String(length=320), nullable=False),
    sa.Column('connected_at', UTC, nullable=True),
    sa.Column('updated_at', UTC, nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('backfilled_at', UTC, nullable=True),
    sa.Column('cdc_cursor', UTC, nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=False),
    sa.Column('lease_until', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_connections')),
    sa.UniqueConstraint('provider', name=op.f('uq_accounting_connections_provider'))
    )
    op.create_table('accounting_mappings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('local_id', sa.BigInteger(), nullable=False),
    sa.Column('remote_id', sa.String(length=60), nullable=False),
    sa.Column('sync_token', sa.String(length=20), nullable=False),
    sa.Column('doc_number', sa.String(length=60), nullable=False),
    sa.Column('pushed_hash', sa.String(length=64), nullable=False),
    sa.Column('pushed_total_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('remote_status', sa.String(length=20), nullable=False),
    sa.Column('pushed_at', UTC, nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_mappings')),
    sa.UniqueConstraint('provider', 'kind', 'local_id', name='uq_accounting_mappings_local')
    )
    with op.batch_alter_table('accounting_mappings', schema=None) as batch_op:
        batch_op.create_index('ix_accounting_mappings_remote', ['provider', 'kind', 'remote_id'], unique=False)
    op.create_table('accounting_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('arrangement_kind', sa.String(length=30), nullable=False),
    sa.Column('item_name', sa.String(length=100), nullable=False),
    sa.Column('income_account', sa.String(length=60), nullable=False),
    sa.Column('remote_id', sa.String(length=60), nullable=False),
    sa.Column('sync_token', sa.String(length=20), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_items')),
    sa.UniqueConstraint('provider', 'arrangement_kind', name='uq_accounting_items_kind')
    )
    op.create_table('accounting_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('topic', sa.String(length=60), nullable=False),
    sa.Column('subject', sa.String(length=20), nullable=False),
    sa.Column('ref_id', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', UTC, nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('done_at', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_queue')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('accounting_queue', schema=None) as batch_op:
        batch_op.create_index('ix_accounting_queue_ready', ['provider', 'status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('accounting_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_accounting_queue_ready')
    op.drop_table('accounting_queue')
    op.drop_table('accounting_items')
    with op.batch_alter_table('accounting_mappings', schema=None) as batch_op:
        batch_op.drop_index('ix_accounting_mappings_remote')
    op.drop_table('accounting_mappings')
    op.drop_table('accounting_connections')
