"""issue 13: versions of an arrangement's terms, the differences amendments leave, archived clients, cancelled
milestones, the workspace's proration of a period that spans an amendment

Revision ID: 0016_contracts
Revises: 0015_hosted_links
Create Date: 2026-12-02 00:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import domain.store.types


revision: str = '0016_contracts'
down_revision: str | None = '0015_hosted_links'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('arrangement_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arrangement_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('decided_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['arrangement_id'], ['arrangements.id'],
                            name=op.f('fk_arrangement_versions_arrangement_id_arrangements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arrangement_versions'))
    )
    with op.batch_alter_table('arrangement_versions', schema=None) as batch_op:
        batch_op.create_index('ix_arrangement_versions_arrangement', ['arrangement_id', 'effective_on'],
                              unique=False)

    op.create_table('arrangement_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('arrangement_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('period_key', sa.String(length=40), nullable=False),
    sa.Column('section', sa.String(length=30), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('disposition', sa.String(length=20), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('created_at', domain.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['arrangement_id'], ['arrangements.id'],
                            name=op.f('fk_arrangement_adjustments_arrangement_id_arrangements')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_arrangement_adjustments_client_id_clients')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'],
                            name=op.f('fk_arrangement_adjustments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['version_id'], ['arrangement_versions.id'],
                            name=op.f('fk_arrangement_adjustments_version_id_arrangement_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arrangement_adjustments'))
    )
    with op.batch_alter_table('arrangement_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arrangement_adjustments_arrangement_id'), ['arrangement_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_arrangement_adjustments_client_id'), ['client_id'], unique=False)

    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amendment_proration', sa.String(length=20), nullable=False,
                                      server_default='by_day'))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', domain.store.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_on')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('amendment_proration')
    with op.batch_alter_table('arrangement_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arrangement_adjustments_client_id'))
        batch_op.drop_index(batch_op.f('ix_arrangement_adjustments_arrangement_id'))
    op.drop_table('arrangement_adjustments')
    with op.batch_alter_table('arrangement_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_arrangement_versions_arrangement')
    op.drop_table('arrangement_versions')
