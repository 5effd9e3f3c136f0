"""Drafting from every kind of arrangement: lines, sources, idempotency, nothing billed twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.errors import ValidationFailed
from domain.services import clients, invoicing, work
from domain.services.views import InvoiceView, LineView

from .conftest import APRIL, World


def lines_by(inv: InvoiceView, section: str) -> list[LineView]:
    return [ln for ln in inv.lines if ln.section == section]


def claims_of(world: World, invoice_id: int) -> set[tuple[str, int, str]]:
    with world.db.uow() as uow:
        return {(c.kind, c.ref_id, c.period_key) for c in uow.claims.for_invoice(invoice_id)}


def everything_client(world: World) -> dict[str, int]:
    """One client with every kind of arrangement and some work in March 2026."""
    c = world.client("Globex Corp", rate="20", billing_emails=["billing@globex.example"])
    ids: dict[str, int] = {"client": c.id}
    ids["advance"] = world.arrangement(c.id, "retainer", name="Support", fee="3000.00", starts_on="2026-01-01").id
    ids["arrears"] = world.arrangement(c.id, "retainer", name="On-call", fee="1000.00", billing="arrears",
                                       starts_on="2026-01-01").id
    ids["quarterly"] = world.arrangement(c.id, "retainer", name="Security reviews", fee="9000.00",
                                         cycle="quarterly", billing="arrears", starts_on="2026-01-01").id
    ids["partial"] = world.arrangement(c.id, "retainer", name="Cloud ops", fee="3100.00",
                                       starts_on="2026-03-15").id
    ids["subscription"] = world.arrangement(c.id, "subscription", product="Backup seats", seats=10,
                                            unit_price="20.00", starts_on="2026-01-01").id
    ms = world.arrangement(c.id, "milestone", milestones=[{"name": "Migration", "amount": "8000.00"},
                                                          {"name": "Training", "amount": "2000.00"}])
    ids["milestone_arr"], ids["m_done"], ids["m_open"] = ms.id, ms.milestones[0].id, ms.milestones[1].id
    world.call(work.complete_milestone, world.system, ids["m_done"], date(2026, 3, 20))
    ids["pass"] = world.arrangement(c.id, "pass_through", markup_pct="10").id
    ids["expense"] = int(world.call(work.record_expense, world.system, work.ExpenseIn(
        client_id=c.id, arrangement_id=ids["pass"], date=date(2026, 3, 5), description="Firewall appliance",
        cost="1000.00"))["id"])  # type: ignore[call-overload]
    ids["sla"] = world.arrangement(c.id, "sla_credit", credit_pct="10", retainer_arrangement_id=ids["advance"]).id
    ids["breach"] = int(world.call(work.record_breach, world.system, work.BreachIn(
        client_id=c.id, arrangement_id=ids["sla"], occurred_on=date(2026, 3, 12),
        description="P1 response over 1 h"))["id"])  # type: ignore[call-overload]
    ids["tm"] = world.arrangement(c.id, "time_and_materials", default_rate="100.00",
                                  role_rates={"engineer": "150.00"}, person_rates={"carol@dev.example": "200.00"}).id
    ids["e_alice"] = world.log(c.id, date(2026, 3, 2), "4", person="alice@dev.example").id
    ids["e_bob"] = world.log(c.id, date(2026, 3, 3), "2", person="bob@dev.example", role="designer").id
    ids["e_carol"] = world.log(c.id, date(2026, 3, 4), "3", person="carol@dev.example").id
    return ids


def test_every_kind_of_arrangement_on_one_invoice_each_line_with_its_source(world: World) -> None:
    ids = everything_client(world)
    inv = world.draft(ids["client"])
    got = sorted((ln.section, ln.amount, ln.arrangement_id) for ln in inv.lines)
    assert got == sorted([
        ("retainer", "3000.00", ids["advance"]),
        ("retainer", "1000.00", ids["arrears"]),
        ("retainer", "9000.00", ids["quarterly"]),
        ("retainer", "1700.00", ids["partial"]),           # 17/31 of 3,100
        ("subscription", "200.00", ids["subscription"]),
        ("milestone", "8000.00", ids["milestone_arr"]),
        ("pass_through", "1100.00", ids["pass"]),          # 1,000 + 10%
        ("sla_credit", "-300.00", ids["sla"]),             # 10% of the 3,000 retainer, as a negative line
        ("time", "600.00", ids["tm"]),                     # alice, engineer: role rate 150
        ("time", "200.00", ids["tm"]),                     # bob, designer: default 100
        ("time", "600.00", ids["tm"]),                     # carol: person rate 200 beats the role's 150
    ])
    sources = {(ln.section, ln.arrangement_id): ln.source for ln in inv.lines}
    advance = dict(sources[("retainer", ids["advance"])])
    assert advance.pop("terms_version") == 1 and advance.pop("terms_version_id") > 0  # the version that priced it
    assert advance.pop("text") == {"key": "retainer", "params": {  # its wording as data (issue 12)
        "name": "Support", "start": "2026-03-01", "end": "2026-03-31", "arrears": 0, "share": ""}}
    assert advance == {"arrangement_id": ids["advance"], "period": "2026-03-01..2026-03-31"}
    assert {ln.source["text"]["key"] for ln in inv.lines} >= {"retainer", "milestone", "pass_through", "sla_credit"}
    assert sources[("retainer", ids["quarterly"])]["period"] == "2026-01-01..2026-03-31"
    assert sources[("milestone", ids["milestone_arr"])]["milestone_id"] == ids["m_done"]
    assert sources[("pass_through", ids["pass"])]["expense_id"] == ids["expense"]
    assert sources[("sla_credit", ids["sla"])]["breach_id"] == ids["breach"]
    time_ids = sorted(i for ln in lines_by(inv, "time") for i in ln.source["time_entry_ids"])
    assert time_ids == sorted([ids["e_alice"], ids["e_bob"], ids["e_carol"]])
    descriptions = " | ".join(ln.description for ln in inv.lines)
    assert "(in arrears)" in descriptions and "prorated 54.84%" in descriptions
    assert "Training" not in descriptions  # not completed, not billable
    assert inv.subtotal == "25100.00" and inv.tax_total == "5020.00" and inv.total == "30120.00"
    assert claims_of(world, inv.id) == {
        ("period", ids["advance"], "2026-03-01..2026-03-31"), ("period", ids["arrears"], "2026-03-01..2026-03-31"),
        ("period", ids["quarterly"], "2026-01-01..2026-03-31"), ("period", ids["partial"], "2026-03-01..2026-03-31"),
        ("period", ids["subscription"], "2026-03-01..2026-03-31"), ("milestone", ids["m_done"], ""),
        ("expense", ids["expense"], ""), ("breach", ids["breach"], ""), ("time", ids["e_alice"], ""),
        ("time", ids["e_bob"], ""), ("time", ids["e_carol"], "")}


def test_drafting_the_same_period_twice_returns_the_same_draft(world: World) -> None:
    ids = everything_client(world)
    first = world.draft(ids["client"])
    before = world.snapshot()
    again = world.draft(ids["client"])
    assert again.id == first.id and again.lines == first.lines
    assert world.snapshot() == before  # no second invoice, no audit entry


def test_an_overlapping_window_bills_only_what_is_new(world: World) -> None:
    ids = everything_client(world)
    march = world.draft(ids["client"])
    world.log(ids["client"], date(2026, 3, 20), "1", person="alice@dev.example")
    later = world.draft(ids["client"], (date(2026, 3, 15), date(2026, 4, 14)))
    assert later.id != march.id
    got = sorted((ln.section, ln.amount, ln.source.get("period")) for ln in later.lines)
    assert got == sorted([
        ("retainer", "3000.00", "2026-04-01..2026-04-30"),   # April, due 1 April; March is already billed
        ("retainer", "3100.00", "2026-04-01..2026-04-30"),
        ("subscription", "200.00", "2026-04-01..2026-04-30"),
        ("time", "150.00", None),                            # only the new hour
    ])
    assert not claims_of(world, march.id) & claims_of(world, later.id)


def test_nothing_to_bill_is_a_clear_error_and_writes_nothing(world: World) -> None:
    c = world.client("Quiet Ltd")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.draft(c.id)
    assert e.value.code == "invoice.nothing_to_bill" and "Quiet Ltd" in e.value.message
    assert world.snapshot() == before


def test_a_fully_billed_window_has_nothing_left(world: World) -> None:
    cid = world.retainer_client()
    world.issued(cid)
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.draft(cid)  # same window again: the retainer's March is claimed by an issued invoice
    assert e.value.code == "invoice.nothing_to_bill"
    assert world.snapshot() == before


def test_void_releases_the_work_so_it_can_be_billed_again(world: World) -> None:
    ids = everything_client(world)
    inv = world.issued(ids["client"])
    lines = sorted((ln.section, ln.amount) for ln in inv.lines)
    void = world.call(invoicing.void_invoice, world.actor("finance"), inv.id, "wrong PO")
    assert void.status == "void" and void.number == inv.number
    assert claims_of(world, inv.id) == set()
    again = world.draft(ids["client"])
    assert again.id != inv.id
    assert sorted((ln.section, ln.amount) for ln in again.lines) == lines


def test_discard_releases_the_work(world: World) -> None:
    ids = everything_client(world)
    inv = world.draft(ids["client"])
    claims = claims_of(world, inv.id)
    assert world.call(invoicing.discard_draft, world.system, inv.id) is None
    assert claims_of(world, inv.id) == set()
    again = world.draft(ids["client"])
    assert again.id != inv.id and claims_of(world, again.id) == claims
    assert world.audit_actions("invoice", inv.id) == ["invoice.drafted", "invoice.discarded"]


def test_retainer_in_advance_in_arrears_and_quarterly_by_window(world: World) -> None:
    c = world.client("Cycles BV")
    adv = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01").id
    arr = world.arrangement(c.id, "retainer", fee="500.00", billing="arrears", starts_on="2026-01-01").id
    q = world.arrangement(c.id, "retainer", fee="3000.00", cycle="quarterly", starts_on="2026-01-01").id
    y = world.arrangement(c.id, "retainer", fee="12000.00", cycle="yearly", starts_on="2026-01-01").id
    april = world.draft(c.id, APRIL)
    got = {ln.arrangement_id: ln.source["period"] for ln in april.lines}
    assert got == {adv: "2026-04-01..2026-04-30", arr: "2026-04-01..2026-04-30", q: "2026-04-01..2026-06-30"}
    may = world.draft(c.id, (date(2026, 5, 1), date(2026, 5, 31)))
    assert {ln.arrangement_id for ln in may.lines} == {adv, arr}  # the quarter was billed in April
    jan = world.draft(c.id, (date(2026, 1, 1), date(2026, 1, 31)))
    assert {ln.arrangement_id: ln.source["period"] for ln in jan.lines}[y] == "2026-01-01..2026-12-31"


def test_a_contract_ending_mid_month_is_prorated(world: World) -> None:
    c = world.client("Leaving GmbH")
    world.arrangement(c.id, "retainer", fee="3100.00", starts_on="2025-01-01", ends_on="2026-03-10")
    world.arrangement(c.id, "subscription", product="Seats", seats=3, unit_price="31.00",
                      starts_on="2026-03-15")
    inv = world.draft(c.id)
    amounts = sorted((ln.section, ln.amount, ln.quantity) for ln in inv.lines)
    assert amounts == [("retainer", "1000.00", "0.3226"), ("subscription", "51.00", "1.6452")]


def test_retainer_without_proration_bills_the_full_fee(world: World) -> None:
    c = world.client("Flat Fee AG")
    world.arrangement(c.id, "retainer", fee="3100.00", starts_on="2026-03-15", prorate=False)
    assert [ln.amount for ln in world.draft(c.id).lines] == ["3100.00"]


def test_graduated_tiers_and_included_hours(world: World) -> None:
    c = world.client("Tiered Inc")
    world.arrangement(c.id, "retainer", fee="1000.00", included_hours="5", starts_on="2026-01-01")
    tm = world.arrangement(c.id, "time_and_materials", tiers=[
        {"up_to_hours": "10", "rate": "150.00"}, {"up_to_hours": "20", "rate": "130.00"}, {"rate": "110.00"}]).id
    for d in range(2, 8):
        world.log(c.id, date(2026, 3, d), "5")  # 30 h: 5 included, 25 billed in tiers
    inv = world.draft(c.id)
    time = [(ln.quantity, ln.unit_price, ln.amount) for ln in lines_by(inv, "time")]
    assert time == [("5", "0.00", "0.00"), ("10", "150.00", "1500.00"), ("10", "130.00", "1300.00"),
                    ("5", "110.00", "550.00")]
    assert all(ln.arrangement_id == tm for ln in lines_by(inv, "time"))


def test_not_to_exceed_cap_cuts_the_time_and_flags_the_invoice(world: World) -> None:
    c = world.client("Capped Ltd")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00", cap="1000.00")
    world.log(c.id, date(2026, 2, 10), "6")
    feb = world.draft(c.id, (date(2026, 2, 1), date(2026, 2, 28)))
    assert feb.total == "714.00"  # 600 + 19%, under the cap
    world.log(c.id, date(2026, 3, 10), "6")
    inv = world.draft(c.id)
    time = lines_by(inv, "time")
    assert [ln.amount for ln in time] == ["600.00", "-200.00"]  # only 400 of room was left
    assert sum(Decimal(ln.amount) for ln in time) == Decimal("400.00")
    assert "cap" in time[1].description
    issued = world.call(invoicing.issue_invoice, world.system, inv.id)
    assert issued.status == "pending_approval"
    assert {"code": "cap", "outcome": "flag"}.items() <= next(c for c in issued.checks if c["code"] == "cap").items()


def test_sla_credits_never_exceed_the_retainer(world: World) -> None:
    c = world.client("Outage Corp")
    ret = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01").id
    sla = world.arrangement(c.id, "sla_credit", fixed_amount="400.00", retainer_arrangement_id=ret).id
    for d in (3, 9, 15):
        world.call(work.record_breach, world.system, work.BreachIn(client_id=c.id, arrangement_id=sla,
                                                                    occurred_on=date(2026, 3, d), description="down"))
    inv = world.draft(c.id)
    credits = [ln.amount for ln in lines_by(inv, "sla_credit")]
    assert credits == ["-400.00", "-400.00", "-200.00"]  # 1,000 in all, never more than the retainer
    assert inv.subtotal == "0.00"


def test_missing_rate_is_a_clear_error_and_writes_nothing(world: World) -> None:
    c = world.client("No Rate Ltd")
    world.arrangement(c.id, "time_and_materials", role_rates={"engineer": "150.00"})
    world.log(c.id, date(2026, 3, 3), "2", role="designer")
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.draft(c.id)
    assert e.value.code == "tm.no_rate" and "designer" in e.value.message
    assert world.snapshot() == before


def test_time_entries_go_to_their_arrangement(world: World) -> None:
    c = world.client("Two Rates AG")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00").id
    b = world.arrangement(c.id, "time_and_materials", default_rate="250.00", name="Architecture").id
    world.log(c.id, date(2026, 3, 3), "2")
    world.log(c.id, date(2026, 3, 4), "2", arrangement_id=b)
    inv = world.draft(c.id)
    assert sorted((ln.arrangement_id, ln.amount) for ln in inv.lines) == [(a, "200.00"), (b, "500.00")]


def test_exempt_and_reverse_charge_clients_get_zero_tax_and_the_note(world: World) -> None:
    for profile, note in [({"mode": "reverse_charge", "tax_id": "FR40303265045"}, "Reverse charge"),
                          ({"mode": "exempt", "exemption_reason": "Art. 132 education"}, "Exempt from tax")]:
        c = world.call(clients.create_client, world.system, clients.ClientIn(
            name=f"Client {profile['mode']}", currency="EUR", billing_emails=["a@b.example"], tax_profile=profile))
        world.arrangement(c.id, "retainer", fee="1000.00")
        inv = world.draft(c.id)
        assert inv.tax_total == "0.00" and inv.total == "1000.00"
        assert inv.tax_note.startswith(note)


def test_included_hours_are_granted_once_even_for_overlapping_windows(world: World) -> None:
    c = world.client("Included Hours BV")
    ret = world.arrangement(c.id, "retainer", fee="3000.00", included_hours="10", starts_on="2026-01-01").id
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    world.log(c.id, date(2026, 3, 10), "12")
    march = world.draft(c.id)
    assert [(ln.quantity, ln.amount) for ln in lines_by(march, "time")] == [("10", "0.00"), ("2", "200.00")]
    world.log(c.id, date(2026, 3, 20), "5")   # logged late, for March, whose 10 included hours are used up
    world.log(c.id, date(2026, 4, 6), "3")
    late = world.draft(c.id, (date(2026, 3, 16), date(2026, 4, 15)))
    # Only 1-15 April are new days: half of April's 10 hours, and only April's work may use them.
    assert [(ln.quantity, ln.amount) for ln in lines_by(late, "time")] == [("3", "0.00"), ("5", "500.00")]
    included = lines_by(late, "time")[0]
    assert included.source["included_used"] == {f"{ret}:2026-04-01..2026-04-30": "3.00"}
    world.log(c.id, date(2026, 4, 20), "4")
    rest = world.draft(c.id, (date(2026, 4, 16), date(2026, 4, 30)))   # the other half of April's hours
    assert [(ln.quantity, ln.amount) for ln in lines_by(rest, "time")] == [("4", "0.00")]


def test_a_month_redrafted_after_issue_still_has_its_unused_hours(world: World) -> None:
    c = world.client("Early Bird BV")
    world.arrangement(c.id, "retainer", fee="3000.00", included_hours="10", starts_on="2026-01-01")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    world.log(c.id, date(2026, 3, 10), "6")
    world.issued(c.id)                       # March billed early, 6 of its 10 hours used
    world.log(c.id, date(2026, 3, 31), "7")  # the last day's work, billed in the same window
    again = world.draft(c.id)
    assert [(ln.quantity, ln.amount) for ln in lines_by(again, "time")] == [("4", "0.00"), ("3", "300.00")]


def test_included_hours_per_month_are_not_pooled_across_a_quarter(world: World) -> None:
    c = world.client("Quarterly Window BV")
    world.arrangement(c.id, "retainer", fee="1000.00", included_hours="10", starts_on="2026-01-01")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    world.log(c.id, date(2026, 1, 10), "12")   # January's 10 hours, not February's or March's
    world.log(c.id, date(2026, 1, 11), "13")
    q1 = world.draft(c.id, (date(2026, 1, 1), date(2026, 3, 31)))
    assert [(ln.quantity, ln.amount) for ln in lines_by(q1, "time")] == [("10", "0.00"), ("15", "1500.00")]


def test_included_hours_of_a_voided_invoice_are_given_back(world: World) -> None:
    c = world.client("Voided Hours BV")
    world.arrangement(c.id, "retainer", fee="3000.00", included_hours="10", starts_on="2026-01-01")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    world.log(c.id, date(2026, 3, 10), "12")
    inv = world.issued(c.id)
    world.call(invoicing.void_invoice, world.actor("finance"), inv.id, "wrong client")
    again = world.draft(c.id)
    assert [(ln.quantity, ln.amount) for ln in lines_by(again, "time")] == [("10", "0.00"), ("2", "200.00")]


def test_a_percentage_sla_credit_needs_a_retainer_to_take_the_percentage_of(world: World) -> None:
    c = world.client("No Retainer Ltd")
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.arrangement(c.id, "sla_credit", credit_pct="10")
    assert e.value.field == "retainer_arrangement_id"
    assert world.snapshot() == before
    world.arrangement(c.id, "sla_credit", fixed_amount="50.00")   # a fixed credit needs none
    ret = world.arrangement(c.id, "retainer", fee="1000.00").id
    world.arrangement(c.id, "sla_credit", credit_pct="10")        # the client's retainer is the one
    world.arrangement(c.id, "sla_credit", credit_pct="10", retainer_arrangement_id=ret)


def breach(world: World, client_id: int, sla: int, day: date) -> None:
    world.call(work.record_breach, world.system, work.BreachIn(client_id=client_id, arrangement_id=sla,
                                                                occurred_on=day, description="down"))


def test_sla_credits_for_a_period_never_exceed_its_retainer_across_invoices(world: World) -> None:
    c = world.client("Flaky Hosting Ltd")
    ret = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01").id
    sla = world.arrangement(c.id, "sla_credit", fixed_amount="400.00", retainer_arrangement_id=ret).id
    for d in (3, 9):
        breach(world, c.id, sla, date(2026, 3, d))
    march = world.issued(c.id)
    assert [ln.amount for ln in lines_by(march, "sla_credit")] == ["-400.00", "-400.00"]
    breach(world, c.id, sla, date(2026, 3, 28))   # recorded late, billed in April
    breach(world, c.id, sla, date(2026, 3, 30))
    breach(world, c.id, sla, date(2026, 4, 2))
    april = world.draft(c.id, APRIL)
    credits = [(ln.amount, ln.source["retainer_period"]) for ln in lines_by(april, "sla_credit")]
    assert credits == [("-200.00", f"{ret}:2026-03-01..2026-03-31"),   # March had 200 of room left
                       ("0.00", f"{ret}:2026-03-01..2026-03-31"),      # and then none
                       ("-400.00", f"{ret}:2026-04-01..2026-04-30")]   # April has its own 1,000


def test_sla_credits_in_a_quarter_window_are_capped_month_by_month(world: World) -> None:
    c = world.client("Quarterly Credits Ltd")
    ret = world.arrangement(c.id, "retainer", fee="1000.00", billing="arrears", starts_on="2026-01-01").id
    sla = world.arrangement(c.id, "sla_credit", credit_pct="100", retainer_arrangement_id=ret).id
    for m in (1, 2):
        breach(world, c.id, sla, date(2026, m, 5))
    q1 = world.draft(c.id, (date(2026, 1, 1), date(2026, 3, 31)))
    assert [ln.amount for ln in lines_by(q1, "sla_credit")] == ["-1000.00", "-1000.00"]
    assert q1.subtotal == "1000.00"   # three months of retainer, two of them credited in full


def test_fixed_sla_credits_without_a_retainer_are_not_capped_at_one(world: World) -> None:
    c = world.client("Fixed Credits Ltd")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00")
    sla = world.arrangement(c.id, "sla_credit", fixed_amount="50.00").id
    world.log(c.id, date(2026, 3, 2), "5")
    for d in (3, 4):
        breach(world, c.id, sla, date(2026, 3, d))
    inv = world.draft(c.id)
    assert [ln.amount for ln in lines_by(inv, "sla_credit")] == ["-50.00", "-50.00"]


@pytest.mark.parametrize(("currency", "fee", "rate", "hours", "expected"), [
    ("JPY", "100000", "15000", "1.5", ("122500", "12250", "134750")),
    ("KWD", "1000.125", "35.500", "1.25", ("1044.500", "104.451", "1148.951")),   # 100.013 + 4.438 per line
    ("EUR", "1000.00", "99.99", "0.33", ("1033.00", "103.30", "1136.30")),
])
def test_invoices_in_currencies_with_0_2_and_3_decimals(world: World, currency: str, fee: str, rate: str,
                                                        hours: str, expected: tuple[str, str, str]) -> None:
    c = world.client(f"{currency} client", currency=currency, rate="10")
    world.arrangement(c.id, "retainer", fee=fee, starts_on="2026-01-01")
    world.arrangement(c.id, "time_and_materials", default_rate=rate)
    world.log(c.id, date(2026, 3, 2), hours)
    inv = world.issued(c.id)
    assert (inv.subtotal, inv.tax_total, inv.total) == expected
    assert inv.currency == currency


def test_time_for_a_client_with_no_time_and_materials_arrangement_is_flagged_when_logged(world: World) -> None:
    """Drafting bills time only through a T&M arrangement: logging hours without one says so at once."""
    fixed = world.retainer_client()
    owner = world.actor("owner")
    entry = world.log(fixed, date(2026, 3, 2), "3", actor=owner)
    assert len(entry.warnings) == 1 and "no active time and materials arrangement" in entry.warnings[0]
    tm = world.client("Hourly AG")
    world.arrangement(tm.id, "time_and_materials", default_rate="100.00")
    assert world.log(tm.id, date(2026, 3, 2), "3", actor=owner).warnings == []
