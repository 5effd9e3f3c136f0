"""invoice delivery (hosted page token, first view, e-mail delivery) and dunning reminders (issue 7)

Revision ID: 0003_documents
Revises: 0001
Create Date: 2026-11-25 13:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = '0003_documents'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('invoice_delivery',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('public_token', sa.String(length=64), nullable=False),
    sa.Column('first_viewed_at', domain.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('sent_at', domain.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_delivery_invoice_id_invoices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_invoice_delivery')),
    sa.UniqueConstraint('public_token', name=op.f('uq_invoice_delivery_public_token'))
    )
    with op.batch_alter_table('invoice_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_delivery_message_id'), ['message_id'], unique=False)

    op.create_table('invoice_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_reminders_invoice_id_invoices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_reminders')),
    sa.UniqueConstraint('invoice_id', 'step', name='uq_invoice_reminders_invoice_step')
    )
    with op.batch_alter_table('invoice_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_reminders_invoice_id'), ['invoice_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invoice_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_reminders_invoice_id'))
    op.drop_table('invoice_reminders')
    with op.batch_alter_table('invoice_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_delivery_message_id'))
    op.drop_table('invoice_delivery')
