"""Bad input at the service level: refused with the field named and the reason, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from domain.errors import BillingError, NotFound, ValidationFailed
from domain.services import clients, invoicing, users, work, workspace

from .conftest import MARCH, World

Case = tuple[str, Callable[[World, dict[str, int]], Any], str, type[BillingError]]


def prepared(world: World) -> dict[str, int]:
    c = world.client("Valid GmbH")
    jpy = world.client("Tokyo KK", currency="JPY", rate="10")
    ids = {"client": c.id, "jpy": jpy.id}
    ids["retainer"] = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01").id
    ids["pass"] = world.arrangement(c.id, "pass_through").id
    ids["sla"] = world.arrangement(c.id, "sla_credit", fixed_amount="10.00").id
    ids["draft"] = world.draft(c.id).id
    ids["issued"] = world.issued(world.retainer_client(name="Issued Ltd")).id
    return ids


def time_entry(ids: dict[str, int], **kw: Any) -> dict[str, Any]:
    return {"client_id": ids["client"], "person": "alice@dev.example", "role": "engineer",
            "date": "2026-03-02", "hours": "1", **kw}


def client(**kw: Any) -> dict[str, Any]:
    return {"name": "Bad Input Ltd", "currency": "EUR", **kw}


S = "system"
CASES: list[Case] = [
    # hours
    ("negative hours", lambda w, i: w.call(work.log_time, w.system, time_entry(i, hours="-1")), "hours",
     ValidationFailed),
    ("zero hours", lambda w, i: w.call(work.log_time, w.system, time_entry(i, hours="0")), "hours",
     ValidationFailed),
    ("25 hours in a day", lambda w, i: w.call(work.log_time, w.system, time_entry(i, hours="25")), "hours",
     ValidationFailed),
    ("hours to the second", lambda w, i: w.call(work.log_time, w.system, time_entry(i, hours="1.001")), "hours",
     ValidationFailed),
    ("hours as a model", lambda w, i: w.call(work.log_time, w.system, work.TimeEntryIn(
        **time_entry(i, hours="-2"))), "hours", ValidationFailed),
    ("no date", lambda w, i: w.call(work.log_time, w.system, {k: v for k, v in time_entry(i).items()
                                                              if k != "date"}), "date", ValidationFailed),
    # currencies
    ("unknown currency", lambda w, i: w.call(clients.create_client, w.system, client(currency="XYZ")),
     "currency", ValidationFailed),
    ("currency that no longer exists", lambda w, i: w.call(clients.create_client, w.system, client(currency="DEM")),
     "currency", ValidationFailed),
    ("lower-case currency", lambda w, i: w.call(clients.create_client, w.system, client(currency="eur")),
     "currency", ValidationFailed),
    # tax
    ("tax rate over 100", lambda w, i: w.call(clients.create_client, w.system, client(
        tax_profile={"mode": "standard", "rate": "150"})), "tax_profile.rate", ValidationFailed),
    ("tax rate as a float", lambda w, i: w.call(clients.create_client, w.system, client(
        tax_profile={"rate": 19.0})), "tax_profile.rate", ValidationFailed),
    ("tax rate over 100 on update", lambda w, i: w.call(clients.update_client, w.system, i["client"], {
        "tax_profile": {"rate": "100.5"}}), "tax_profile.rate", ValidationFailed),
    ("section rate over 100", lambda w, i: w.call(clients.create_client, w.system, client(
        tax_profile={"rate": "19", "section_rates": {"time": "119"}})), "tax_profile.section_rates",
     ValidationFailed),
    ("bad billing e-mail", lambda w, i: w.call(clients.create_client, w.system, client(
        billing_emails=["not an address"])), "billing_emails.0", ValidationFailed),
    ("unknown field", lambda w, i: w.call(clients.create_client, w.system, client(vat="DE1")), "vat",
     ValidationFailed),
    ("not an account manager", lambda w, i: w.call(clients.create_client, w.system, client(
        account_manager_ids=[w.user_ids["viewer"]])), "account_manager_ids", ValidationFailed),
    ("unknown account manager on update", lambda w, i: w.call(clients.update_client, w.system, i["client"], {
        "account_manager_ids": [9999]}), "account_manager_ids", ValidationFailed),
    # periods
    ("period ends before it starts", lambda w, i: w.call(invoicing.draft_invoice, w.system, i["client"],
                                                         date(2026, 3, 31), date(2026, 3, 1)), "period_end",
     ValidationFailed),
    # unknown things
    ("unknown client (draft)", lambda w, i: w.call(invoicing.draft_invoice, w.system, 9999, *MARCH), "client_id",
     NotFound),
    ("unknown client (time)", lambda w, i: w.call(work.log_time, w.system, time_entry(i, client_id=9999)),
     "client_id", NotFound),
    ("unknown client (arrangement)", lambda w, i: w.call(clients.add_arrangement, w.system, 9999, {
        "kind": "retainer", "fee": "1.00"}), "client_id", NotFound),
    ("unknown invoice", lambda w, i: w.call(invoicing.record_payment, w.system, 9999, "1.00", date(2026, 4, 1)),
     "invoice_id", NotFound),
    ("unknown milestone", lambda w, i: w.call(work.complete_milestone, w.system, 9999), "milestone_id", NotFound),
    ("unknown arrangement kind", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "barter", "fee": "1.00"}), "kind", ValidationFailed),
    ("unknown cycle", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "retainer", "fee": "1.00", "cycle": "weekly"}), "cycle", ValidationFailed),
    ("expense on a retainer", lambda w, i: w.call(work.record_expense, w.system, {
        "client_id": i["client"], "arrangement_id": i["retainer"], "date": "2026-03-02", "description": "x",
        "cost": "1.00"}), "arrangement_id", ValidationFailed),
    # floats where money is expected
    ("float payment", lambda w, i: w.call(invoicing.record_payment, w.system, i["issued"], 12.1, date(2026, 4, 1)),
     "amount", ValidationFailed),
    ("float fee", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "retainer", "fee": 1500.5}), "fee", ValidationFailed),
    ("float rate", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "time_and_materials", "role_rates": {"engineer": 150.0}}), "role_rates.engineer",
     ValidationFailed),
    ("float expense", lambda w, i: w.call(work.record_expense, w.system, {
        "client_id": i["client"], "arrangement_id": i["pass"], "date": "2026-03-02", "description": "x",
        "cost": 12.0}), "cost", ValidationFailed),
    ("float unit price", lambda w, i: w.call(invoicing.add_manual_line, w.system, i["draft"], "x", "1", 9.99),
     "unit_price", ValidationFailed),
    ("float credit", lambda w, i: w.call(invoicing.create_credit_note, w.system, i["issued"], "x", 1.5),
     "amount", ValidationFailed),
    # too many decimals
    ("cents of a cent (payment)", lambda w, i: w.call(invoicing.record_payment, w.system, i["issued"], "10.001",
                                                      date(2026, 4, 1)), "amount", ValidationFailed),
    ("cents of a cent (fee)", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "retainer", "fee": "100.001"}), "fee", ValidationFailed),
    ("yen have no cents", lambda w, i: w.call(clients.add_arrangement, w.system, i["jpy"], {
        "kind": "milestone", "milestones": [{"name": "a", "amount": "1000.5"}]}), "milestones.0.amount",
     ValidationFailed),
    ("cents of a cent (expense)", lambda w, i: w.call(work.record_expense, w.system, {
        "client_id": i["client"], "arrangement_id": i["pass"], "date": "2026-03-02", "description": "x",
        "cost": "1.005"}), "cost", ValidationFailed),
    ("cents of a cent (unit price)", lambda w, i: w.call(invoicing.add_manual_line, w.system, i["draft"], "x", "1",
                                                         "1.001"), "unit_price", ValidationFailed),
    ("absurd amount", lambda w, i: w.call(clients.add_arrangement, w.system, i["client"], {
        "kind": "retainer", "fee": "1e30"}), "fee", ValidationFailed),
    # other fields
    ("negative quantity", lambda w, i: w.call(invoicing.add_manual_line, w.system, i["draft"], "x", "-1", "1.00"),
     "quantity", ValidationFailed),
    ("unknown section", lambda w, i: w.call(invoicing.add_manual_line, w.system, i["draft"], "x", "1", "1.00",
                                            section="bribes"), "section", ValidationFailed),
    ("blank description", lambda w, i: w.call(invoicing.add_manual_line, w.system, i["draft"], " ", "1", "1.00"),
     "description", ValidationFailed),
    ("unknown status filter", lambda w, i: w.call(invoicing.list_invoices, w.system, status="overdue"), "status",
     ValidationFailed),
    ("bad user e-mail", lambda w, i: w.call(users.add_user, w.system, {"email": "nobody", "role": "viewer"}),
     "email", ValidationFailed),
    ("unknown role", lambda w, i: w.call(users.add_user, w.system, {"email": "x@y.example", "role": "god"}),
     "role", ValidationFailed),
    ("unknown tax rounding", lambda w, i: w.call(workspace.update_settings, w.system, {
        "tax_rounding": "sometimes"}), "tax_rounding", ValidationFailed),
    ("unknown setting", lambda w, i: w.call(workspace.update_settings, w.system, {"colour": "red"}), "colour",
     ValidationFailed),
    ("number format without a sequence", lambda w, i: w.call(workspace.update_settings, w.system, {
        "invoice_number_format": "INV-{yyyy}"}), "invoice_number_format", ValidationFailed),
    ("threshold with cents of a cent", lambda w, i: w.call(workspace.update_settings, w.system, {
        "approval_thresholds": {"EUR": "1.001"}}), "approval_thresholds.EUR", ValidationFailed),
    ("threshold in no currency", lambda w, i: w.call(workspace.update_settings, w.system, {
        "approval_thresholds": {"XYZ": "1"}}), "approval_thresholds.XYZ", ValidationFailed),
]


def test_every_case_is_distinct() -> None:
    assert len({name for name, *_ in CASES}) == len(CASES)


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(world: World) -> None:
    """Every case against one prepared world (they all must leave it as it is), each checked on its own."""
    ids = prepared(world)
    before = world.snapshot()
    wrong: list[str] = []
    for name, call, field, error in CASES:
        try:
            call(world, ids)
        except BillingError as e:
            if type(e) is not error or e.field != field or not (e.message and e.code):
                wrong.append(f"{name}: {type(e).__name__} {e.code} field={e.field!r} ({e.message}); "
                             f"expected {error.__name__} field={field!r}")
        except Exception as e:  # a raw error is a bug: bad input must always be a BillingError
            wrong.append(f"{name}: raw {type(e).__name__}: {e}")
        else:
            wrong.append(f"{name}: accepted")
        if world.snapshot() != before:
            wrong.append(f"{name}: the database changed")
            before = world.snapshot()
    assert wrong == []
