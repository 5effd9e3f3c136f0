"""issue 12: the parties. The workspace is the seller (legal name, address, VAT ID, tax number, registration,
contact, bank account, e-invoice address); a client is the buyer (address, VAT ID, buyer reference, e-invoice
address, e-invoice format, document language). A client's VAT ID moves out of its tax profile (`tax_id`) into its
own column; its language starts as its locale's.

Revision ID: 0007_parties
Revises: 0001
Create Date: 2026-12-02 00:40:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0007_parties'
# Its own branch, like every feature's (domain.store.migrate upgrades all heads): it touches only the workspace
# and clients tables, made by 0001.
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = ('parties',)
depends_on: str | Sequence[str] | None = None

_ADDRESS = [('address_street', 200), ('address_additional', 200), ('address_postcode', 20),
            ('address_city', 100), ('address_region', 100), ('address_country', 2)]
_EADDRESS = [('electronic_address_scheme', 4), ('electronic_address_identifier', 100)]
_WORKSPACE = [('legal_name', 200), *_ADDRESS, ('vat_id', 20), ('tax_number', 40), ('registration', 200),
              ('contact_name', 200), ('contact_email', 320), ('contact_phone', 40), ('bank_account_iban', 34),
              ('bank_account_bic', 11), ('bank_account_bank_name', 200), ('bank_account_account_holder', 200),
              *_EADDRESS]
_CLIENTS = [*_ADDRESS, ('vat_id', 20), ('buyer_reference', 100), *_EADDRESS]
_LANGUAGES = ('en', 'de', 'nl', 'fr')


def upgrade() -> None:
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        for name, length in _WORKSPACE:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=''))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        for name, length in _CLIENTS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('einvoice_format', sa.String(length=20), nullable=False,
                                      server_default='none'))
        batch_op.add_column(sa.Column('language', sa.String(length=2), nullable=False, server_default='en'))

    # Existing clients: the VAT ID from the tax profile, the language from the locale.
    clients = sa.table('clients', sa.column('id', sa.Integer()), sa.column('tax_profile', sa.JSON()),
                       sa.column('locale', sa.String()), sa.column('vat_id', sa.String()),
                       sa.column('language', sa.String()))
    conn = op.get_bind()
    for cid, profile, locale in conn.execute(sa.select(clients.c.id, clients.c.tax_profile, clients.c.locale)):
        profile = dict(profile or {})
        vat_id = str(profile.pop('tax_id', '') or '').replace(' ', '').upper()[:20]
        language = (locale or 'en')[:2].lower()
        values: dict[str, Any] = {'tax_profile': profile, 'vat_id': vat_id,
                                  'language': language if language in _LANGUAGES else 'en'}
        conn.execute(clients.update().where(clients.c.id == cid).values(**values))


def downgrade() -> None:
    clients = sa.table('clients', sa.column('id', sa.Integer()), sa.column('tax_profile', sa.JSON()),
                       sa.column('vat_id', sa.String()))
    conn = op.get_bind()
    for cid, profile, vat_id in conn.execute(sa.select(clients.c.id, clients.c.tax_profile, clients.c.vat_id)):
        conn.execute(clients.update().where(clients.c.id == cid)
                     .values(tax_profile={**dict(profile or {}), 'tax_id': vat_id or ''}))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        for name in ('language', 'einvoice_format', *reversed([n for n, _ in _CLIENTS])):
            batch_op.drop_column(name)
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        for name, _ in reversed(_WORKSPACE):
            batch_op.drop_column(name)
