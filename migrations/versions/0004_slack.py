"""Slack (issue 6): deliveries seen (dedup of retries), approval cards posted, Slack users linked to ours

Revision ID: 0004_slack
Revises: 0001
Create Date: 2026-11-25 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = '0004_slack'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('slack_deliveries',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('received_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_slack_deliveries'))
    )
    with op.batch_alter_table('slack_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_deliveries_received_at'), ['received_at'], unique=False)

    op.create_table('slack_cards',
    sa.Column('message_key', sa.String(length=60), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('ts', sa.String(length=40), nullable=False),
    sa.Column('posted_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_key', name=op.f('pk_slack_cards'))
    )
    with op.batch_alter_table('slack_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_cards_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('slack_users',
    sa.Column('slack_key', sa.String(length=80), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('explicit', sa.Boolean(), nullable=False),
    sa.Column('checked_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slack_key', name=op.f('pk_slack_users'))
    )


def downgrade() -> None:
    op.drop_table('slack_users')
    with op.batch_alter_table('slack_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_cards_invoice_id'))
    op.drop_table('slack_cards')
    with op.batch_alter_table('slack_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_deliveries_received_at'))
    op.drop_table('slack_deliveries')
