"""follow-up of issue 7: parked payments, the workspace's dunning schedule and send-on-issue, reminder outcomes

Revision ID: 0006_followup
Revises: 0003_documents
Create Date: 2026-11-25 16:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = '0006_followup'
# It changes invoice_reminders, made on issue 7's own branch (0003), so it follows that branch. (No foreign key to
# events, on the 0002 branch: a cross-branch depends_on leaves the two heads out of step for `billable`.)
down_revision: str | None = '0003_documents'
branch_labels: str | Sequence[str] | None = ('followup',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('parked_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('applied_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payer', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('invoice_number', sa.String(length=200), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('source_event_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('applications', sa.JSON(), nullable=False),
    sa.Column('dismiss_reason', sa.Text(), nullable=False),
    sa.Column('resolved_by_user_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', domain.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_parked_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['resolved_by_user_id'], ['users.id'],
                            name=op.f('fk_parked_payments_resolved_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parked_payments')),
    sa.UniqueConstraint('source_event_id', name=op.f('uq_parked_payments_source_event_id'))
    )
    with op.batch_alter_table('parked_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parked_payments_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_parked_payments_status', ['status', 'id'], unique=False)

    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_offsets', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[-3, 1, 7, 14]'")))
        batch_op.add_column(sa.Column('send_on_issue', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    with op.batch_alter_table('invoice_reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=False,
                                      server_default='sent'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('invoice_reminders', schema=None) as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('status')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('send_on_issue')
        batch_op.drop_column('reminder_offsets')
    with op.batch_alter_table('parked_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_parked_payments_status')
        batch_op.drop_index(batch_op.f('ix_parked_payments_invoice_id'))
    op.drop_table('parked_payments')
