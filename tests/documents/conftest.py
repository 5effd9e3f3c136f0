"""Documents and delivery tests: a client with every kind of arrangement and an issued invoice for March."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from domain.model.roles import Actor
from domain.services import invoicing, work
from domain.services.views import InvoiceView
from domain.store.session import Database
from tests.services.conftest import MARCH, World, make_world


@pytest.fixture
def world(db: Database, system: Actor) -> Iterator[World]:
    yield make_world(db, system)


def full_client(w: World, name: str = "Nordwerk Maschinenbau GmbH", locale: str = "de_DE",
                reverse_charge: bool = False, **extra: object) -> int:
    """A client billed in every section: retainer, T&M, milestone, subscription, pass-through, SLA credit."""
    tax = ({"mode": "reverse_charge", "region": "NL"} if reverse_charge
           else {"mode": "standard", "region": "DE", "rate": "19"})
    c = w.client(name, locale=locale, po_number="4500183920", tax_profile=tax,
                 **{**({"vat_id": "NL819203476B01"} if reverse_charge else {}), **extra})
    ret = w.arrangement(c.id, "retainer", name="Managed IT services", fee="6500.00", cycle="monthly",
                        billing="advance", included_hours="2", starts_on="2026-01-01")
    w.arrangement(c.id, "time_and_materials", name="Projects", default_rate="115.00",
                  role_rates={"Senior engineer": "145.00"}, starts_on="2026-01-01")
    ms = w.arrangement(c.id, "milestone", name="Network refresh", starts_on="2026-01-01",
                       milestones=[{"name": "Phase 1: assessment", "amount": "8000.00"}])
    w.arrangement(c.id, "subscription", name="Endpoint protection", product="Managed EDR", seats=48,
                  unit_price="7.50", cycle="monthly", starts_on="2026-01-01")
    pt = w.arrangement(c.id, "pass_through", name="Hardware", markup_pct="12", starts_on="2026-01-01")
    sla = w.arrangement(c.id, "sla_credit", name="SLA P1", credit_pct="10", retainer_arrangement_id=ret.id,
                        starts_on="2026-01-01")
    w.log(c.id, date(2026, 3, 3), "6.5", person="Marta Kowalski", role="Senior engineer")
    w.log(c.id, date(2026, 3, 4), "3", person="Jonas Weber", role="Engineer")
    w.call(work.complete_milestone, w.system, ms.milestones[0].id, date(2026, 3, 10))
    w.call(work.record_expense, w.system, work.ExpenseIn(client_id=c.id, arrangement_id=pt.id,
                                                          date=date(2026, 3, 12), description="2 × Cisco switches",
                                                          cost="3480.00"))
    w.call(work.record_breach, w.system, work.BreachIn(client_id=c.id, arrangement_id=sla.id,
                                                        occurred_on=date(2026, 3, 20),
                                                        description="P1 e-mail outage: first response after 95 min"))
    return c.id


def issued_full(w: World, **kw: object) -> InvoiceView:
    cid = full_client(w, **kw)  # type: ignore[arg-type]
    inv = w.issued(cid, MARCH)
    return w.call(invoicing.get_invoice, w.system, inv.id)
