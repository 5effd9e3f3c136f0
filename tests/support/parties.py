"""Complete, valid parties for the tests (issue 12): what the law asks an invoice to say about its seller and
buyer, so the legal-data check passes and every other test keeps its meaning.

Every test database starts with `SELLER` on its workspace (tests/conftest.py writes it into the SQLite template
and the PostgreSQL seed rows). The client factories give a client `address_for(data)` unless the test gives its
own: an address in the country of the client's VAT ID, else in Germany. Identifiers pass their check digits
(python-stdnum, schwifty); a test that needs a party without them clears them (`blank_seller`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.model.parties import Seller
from domain.services.parties import write_seller
from domain.store.session import Database

SELLER: dict[str, Any] = {
    "legal_name": "Brightline IT Services GmbH",
    "address": {"street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "DE"},
    "vat_id": "DE147820932", "tax_number": "93815/08152", "registration": "HRB 765432, Amtsgericht Stuttgart",
    "contact": {"name": "Tom Okafor", "email": "billing@brightline.example", "phone": "+49 711 2205 3140"},
    "bank_account": {"iban": "DE02600501017495530102", "bic": "SOLADEST600", "bank_name": "BW-Bank"},
    "electronic_address": {"scheme": "9930", "identifier": "DE147820932"},
}

# A real-looking address per country, for clients whose test does not care where they are.
ADDRESSES: dict[str, dict[str, str]] = {
    "DE": {"street": "Industriestraße 14", "postcode": "73760", "city": "Ostfildern", "country": "DE"},
    "NL": {"street": "Keizersgracht 1", "postcode": "1015 CJ", "city": "Amsterdam", "country": "NL"},
    "GB": {"street": "1 King William Street", "postcode": "EC4N 7AR", "city": "London", "country": "GB"},
    "FR": {"street": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
    "AT": {"street": "Kärntner Straße 5", "postcode": "1010", "city": "Wien", "country": "AT"},
    "BE": {"street": "Rue de la Loi 16", "postcode": "1000", "city": "Bruxelles", "country": "BE"},
    "CH": {"street": "Bahnhofstrasse 1", "postcode": "8001", "city": "Zürich", "country": "CH"},
    "US": {"street": "1 Market Street", "postcode": "94105", "city": "San Francisco", "region": "CA",
           "country": "US"},
}


def address_for(data: Mapping[str, Any]) -> dict[str, str]:
    """A complete address for a client: in the country of its VAT ID (EL is Greece), else in Germany."""
    vat = str(data.get("vat_id") or "")[:2].upper()
    return dict(ADDRESSES.get(vat, ADDRESSES["DE"]))


def with_address(data: dict[str, Any]) -> dict[str, Any]:
    """The client's data with a complete address unless it gives one (an explicit {} keeps it empty)."""
    return data if "address" in data else {**data, "address": address_for(data)}


def seed_seller(db: Database) -> None:
    """Write `SELLER` onto the workspace row, straight into the store (no audit entry: it is the starting point)."""
    with db.uow() as uow:
        write_seller(uow.workspace.get(), Seller.model_validate(SELLER))
        uow.commit()


def blank_seller(db: Database) -> None:
    """Clear every seller detail, as a freshly migrated workspace has them."""
    with db.uow() as uow:
        write_seller(uow.workspace.get(), Seller())
        uow.commit()
