"""The demo workspace, loaded through the services on SQLite and PostgreSQL (clock: 2026-04-01 09:00 UTC)."""

from __future__ import annotations

from collections import Counter

import pytest

from domain.errors import Forbidden, Unauthenticated
from domain.model.parties import missing_for_seller
from domain.model.roles import Actor, Role
from domain.services import audit, clients, invoicing, parties, users, work
from domain.services.demo import DEMO_EMAILS, is_loaded, load_demo
from domain.store.session import Database


def test_demo_loads_a_believable_workspace(db: Database, system: Actor) -> None:
    steps: list[tuple[str, int, int]] = []
    report = load_demo(db.uow(), system, progress=lambda label, done, total: steps.append((label, done, total)))

    assert report.created and is_loaded(db.uow())
    # progress went forward to its total
    assert steps[-1][1] == steps[-1][2] and [s[1] for s in steps] == sorted(s[1] for s in steps)

    # three IT-services clients of a German seller: a German GmbH at 19% VAT in EUR, a UK Ltd in GBP and a Dutch
    # B.V. in EUR, both reverse charge (services to a business abroad), each with its address and a VAT ID
    cs = {c.name: c for c in clients.list_clients(db.uow(), system)}
    assert len(cs) == 3
    de, uk, nl = (cs["Nordwerk Maschinenbau GmbH"], cs["Harbour & Finch Ltd"], cs["Van Dijk Logistiek B.V."])
    assert (de.currency, de.tax_profile["rate"], de.tax_profile["mode"]) == ("EUR", "19", "standard")
    assert (uk.currency, uk.tax_profile["mode"], uk.vat_id, uk.address.country) == (
        "GBP", "reverse_charge", "GB294506104", "GB")
    assert (de.vat_id, de.address.city, de.language, de.einvoice_format) == ("DE287654324", "Ostfildern", "de",
                                                                            "facturx")
    assert (nl.language, nl.einvoice_format, nl.electronic_address.scheme) == ("nl", "peppol", "9944")
    seller = parties.get_seller(db.uow(), system)
    assert missing_for_seller(seller, reverse_charge=True) == []
    assert (seller.vat_id, seller.bank_account.iban) == ("DE147820932", "DE02600501017495530102")
    assert nl.tax_profile["mode"] == "reverse_charge" and nl.vat_id == "NL819203476B01"

    # every kind of arrangement, mixed on one client
    kinds = {a.kind for a in clients.list_arrangements(db.uow(), system, de.id)}
    assert kinds == {"retainer", "time_and_materials", "milestone", "subscription", "pass_through", "sla_credit"}

    # one user per role, at the demo domain; the account manager has some clients, not all
    people = users.list_users(db.uow(), system)
    assert {u.role for u in people} == {r.value for r in Role}
    assert all(u.email.endswith("@brightline.example") for u in people)
    am = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.ACCOUNT_MANAGER])
    assert am.client_ids == frozenset({de.id, nl.id})

    # a month of time by several people and roles, with descriptions
    entries = work.list_time_entries(db.uow(), system, limit=2000)
    assert 150 <= len(entries) <= 600
    assert len({e.person for e in entries}) >= 5 and len({e.role for e in entries}) >= 4
    assert all(e.description for e in entries)
    assert len({e.date.month for e in entries}) >= 2  # the UK client's first month and last month
    contractor = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.CONTRACTOR])
    own = work.list_time_entries(db.uow(), contractor, limit=2000)
    assert own and all(e.person == contractor.email for e in own)

    # invoices in the promised states
    invs = invoicing.list_invoices(db.uow(), system)
    states = Counter(i.status for i in invs)
    assert states["partially_paid"] == 1 and states["pending_approval"] == 1 and states["draft"] == 1
    overdue = [i for i in invs if i.overdue]
    assert len(overdue) == 1 and overdue[0].client_id == uk.id and overdue[0].number == "INV-2026-000001"
    part = next(i for i in invs if i.status == "partially_paid")
    assert part.client_id == de.id and part.number and 0 < float(part.balance) < float(part.total)

    # the mixed invoice has every kind of line, each keeping its source, with the SLA credit negative
    full = invoicing.get_invoice(db.uow(), system, part.id)
    assert {ln.section for ln in full.lines} == {"retainer", "time", "milestone", "subscription", "pass_through",
                                                "sla_credit"}
    assert all(ln.source for ln in full.lines)
    assert any(ln.section == "sla_credit" and ln.amount.startswith("-") for ln in full.lines)
    assert any("overage" in ln.description for ln in full.lines)
    assert [g["rate"] for g in full.tax_by_rate] == ["19"] and full.payments
    pending = next(i for i in invs if i.status == "pending_approval")
    assert invoicing.get_invoice(db.uow(), system, pending.id).tax_note.startswith("Reverse charge")

    # the audit log tells the story in order, and the chain verifies
    report_ok = audit.verify_chain(db.uow(), system)
    assert report_ok.ok and report_ok.entries > len(entries)
    history = audit.audit_history(db.uow(), system, limit=1000)
    history += audit.audit_history(db.uow(), system, limit=1000, after_seq=history[-1].seq)
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert max(h.at for h in history) <= db.clock.now()
    actions = {h.action for h in history}
    assert {"invoice.approved", "invoice.flagged", "invoice.payment_recorded", "milestone.completed",
            "sla.breach_recorded", "expense.recorded"} <= actions


def test_demo_twice_adds_nothing_and_rotates_tokens(db: Database, system: Actor) -> None:
    first = load_demo(db.uow(), system)
    n_entries = len(work.list_time_entries(db.uow(), system, limit=2000))
    n_audit = audit.verify_chain(db.uow(), system).entries

    second = load_demo(db.uow(), system)

    assert not second.created
    assert len(clients.list_clients(db.uow(), system)) == 3
    assert len(invoicing.list_invoices(db.uow(), system)) == len(first.invoices) == len(second.invoices) == 4
    assert len(work.list_time_entries(db.uow(), system, limit=2000)) == n_entries
    assert {u.user.email for u in second.users} == set(DEMO_EMAILS.values())
    for old, new in zip(first.users, second.users, strict=True):
        assert old.user.email == new.user.email and old.token != new.token
        with pytest.raises(Unauthenticated):
            users.authenticate_token(db.uow(), old.token)
        assert users.authenticate_token(db.uow(), new.token).email == new.user.email
    check = audit.verify_chain(db.uow(), system)
    assert check.ok and check.entries == n_audit + 5  # one entry per rotated token


def test_only_who_manages_users_may_load_the_demo(db: Database, system: Actor) -> None:
    users.add_user(db.uow(), system, users.UserIn(email="fin@example.com", role=Role.FINANCE))
    finance = users.actor_by_email(db.uow(), "fin@example.com")
    with pytest.raises(Forbidden):
        load_demo(db.uow(), finance)
    assert not is_loaded(db.uow())


def test_demo_contracts_change_nordwerk_seats_rise_and_van_dijk_ends(db: Database, system: Actor) -> None:
    """The README's tour: Nordwerk's seats rose from the 10th of last month (after it was invoiced), so this month's
    invoice carries the prorated difference; Van Dijk's T&M ends with this month and bills nothing after."""
    from datetime import date

    from domain.errors import ValidationFailed
    from domain.services import contracts

    load_demo(db.uow(), system)
    cs = {c.name: c for c in clients.list_clients(db.uow(), system)}
    de, nl = cs["Nordwerk Maschinenbau GmbH"], cs["Van Dijk Logistiek B.V."]
    sub = next(a for a in clients.list_arrangements(db.uow(), system, de.id) if a.kind == "subscription")
    versions = contracts.list_versions(db.uow(), system, de.id, sub.id)
    assert [(v.number, v.effective_on, (v.terms or {}).get("seats")) for v in versions.versions] == [
        (1, date(2026, 3, 1), 48), (2, date(2026, 3, 10), 52)]
    # 4 seats x 7.50 for 22 of March's 31 days
    [adj] = versions.adjustments
    assert (adj.amount, adj.disposition, adj.billed_on_invoice_id) == ("21.29", "next_invoice", None)
    april = invoicing.draft_invoice(db.uow(), system, de.id, date(2026, 4, 1), date(2026, 4, 30))
    assert {(ln.description, ln.amount) for ln in april.lines} >= {
        ("Managed endpoint protection (EDR) — 52 seats, April 2026", "390.00"), (adj.description, "21.29")}
    tm = next(a for a in clients.list_arrangements(db.uow(), system, nl.id) if a.kind == "time_and_materials")
    assert tm.ends_on == date(2026, 4, 30)
    work.log_time(db.uow(), system, work.TimeEntryIn(client_id=nl.id, person="lena@x.example", role="Engineer",
                                                     date=date(2026, 5, 4), hours="2"))  # after the end
    with pytest.raises(ValidationFailed) as e:
        invoicing.draft_invoice(db.uow(), system, nl.id, date(2026, 5, 1), date(2026, 5, 31))
    assert e.value.code == "invoice.nothing_to_bill"
