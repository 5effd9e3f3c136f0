"""issue 16, inbound: payments read from QuickBooks (once per their id) and client updates proposed from there

Revision ID: qboin_01
Revises: qbo_01, 0006_followup
Create Date: 2026-12-02 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = 'qboin_01'
down_revision: str | Sequence[str] | None = ('qbo_01', '0006_followup')  # parked_payments is on that branch
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = domain.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('accounting_payments_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('realm_id', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=60), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('recorded', sa.JSON(), nullable=False),
    sa.Column('parked_payment_id', sa.Integer(), nullable=True),
    sa.Column('source_event_id', sa.Integer(), nullable=True),
    sa.Column('sync_token', sa.String(length=40), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['parked_payment_id'], ['parked_payments.id'],
                            name=op.f('fk_accounting_payments_in_parked_payment_id_parked_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_payments_in')),
    sa.UniqueConstraint('provider', 'realm_id', 'external_id', name='uq_accounting_payments_in_key')
    )
    op.create_table('client_update_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('realm_id', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=60), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source_event_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTC, nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_client_update_proposals_client_id_clients')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'],
                            name=op.f('fk_client_update_proposals_decided_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_update_proposals'))
    )
    with op.batch_alter_table('client_update_proposals', schema=None) as batch_op:
        batch_op.create_index('ix_client_update_proposals_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_client_update_proposals_client_id'), ['client_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('client_update_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_update_proposals_client_id'))
        batch_op.drop_index('ix_client_update_proposals_status')
    op.drop_table('client_update_proposals')
    op.drop_table('accounting_payments_in')
