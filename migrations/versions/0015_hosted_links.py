"""hosted links (issue 15): only a hash of each invoice's hosted-page token is kept, with the link's version

The token is now derived (an HMAC of the invoice id and the link's version under the secret key), so the plain
tokens stored before are dropped: links handed out before this migration stop working, and the next one handed
out (or e-mailed) is the new link.

Revision ID: 0015_hosted_links
Revises: 0003_documents
Create Date: 2026-12-02 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_hosted_links'
down_revision: str | None = '0003_documents'
branch_labels: str | Sequence[str] | None = ('hosted_links',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invoice_delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('link_version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.drop_constraint(batch_op.f('uq_invoice_delivery_public_token'), type_='unique')
        batch_op.drop_column('public_token')
        batch_op.create_unique_constraint(batch_op.f('uq_invoice_delivery_token_hash'), ['token_hash'])
    with op.batch_alter_table('invoice_delivery', schema=None) as batch_op:
        batch_op.alter_column('link_version', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('invoice_delivery', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invoice_delivery_token_hash'), type_='unique')
        batch_op.add_column(sa.Column('public_token', sa.String(length=64), nullable=True))
        batch_op.drop_column('link_version')
        batch_op.drop_column('token_hash')
