"""Rows built without the ORM's events (`domain.store.rows.new_row`, issue 17) are stored as the constructor's
rows are, on SQLite and PostgreSQL: through a flush and through `insert_new`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.store.rows import new_row
from domain.store.session import Database
from domain.store.tables import ClientRow, InvoiceLineRow, InvoiceRow

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LINE: dict[str, Any] = dict(section="time", description="Work", quantity="2", unit="h", unit_price_minor=500,
                            amount_minor=1000, tax_rate="19", tax_minor=190, arrangement_id=None,
                            source={"time_entry_ids": [1]}, manual=False)
INVOICE: dict[str, Any] = dict(kind="invoice", status="draft", currency="EUR", subtotal_minor=2000, tax_minor=380,
                               total_minor=2380, paid_minor=0, credited_minor=0, checks=[], reason="",
                               created_at=NOW)


def _stored(db: Database, invoice_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with db.uow() as uow:
        inv = uow.invoices.get(invoice_id)
        assert inv is not None
        cols = [c.key for c in InvoiceRow.__table__.columns if c.key != "id"]
        line_cols = [c.key for c in InvoiceLineRow.__table__.columns if c.key not in ("id", "invoice_id")]
        return ({k: getattr(inv, k) for k in cols},
                [{k: getattr(ln, k) for k in line_cols} for ln in inv.lines])


@pytest.mark.parametrize("write", ["flush", "insert_new"])
def test_new_rows_are_stored_as_constructed_rows_are(db: Database, write: str) -> None:
    with db.uow() as uow:
        client = ClientRow(name="Acme", currency="EUR", created_at=NOW)
        uow.session.add(client)
        uow.flush()
        plain = InvoiceRow(client_id=client.id, **INVOICE)
        for pos in (1, 2):
            plain.lines.append(InvoiceLineRow(position=pos, **LINE))
        quick = new_row(InvoiceRow, {"client_id": client.id, **INVOICE},
                        lines=[new_row(InvoiceLineRow, {"position": pos, **LINE}) for pos in (1, 2)])
        assert [ln.invoice for ln in quick.lines] == [quick, quick]
        uow.session.add(plain)
        uow.flush()
        uow.preassign_ids([quick])
        uow.preassign_ids(quick.lines)
        if write == "flush":
            for ln in quick.lines:
                ln.invoice_id = quick.id
            uow.session.add(quick)
        else:
            uow.invoices.insert_new([quick])
        uow.commit()
        ids = plain.id, quick.id
    assert _stored(db, ids[1]) == _stored(db, ids[0])


def test_new_row_refuses_what_the_row_does_not_have() -> None:
    with pytest.raises(TypeError, match="no column or collection totl"):
        new_row(InvoiceRow, {"totl": 1})
    with pytest.raises(TypeError, match="no column or collection items"):
        new_row(InvoiceRow, {}, items=[])
