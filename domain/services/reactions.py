"""What an event does: record the fact it reports, then run the rules that match it.

Facts are recorded whatever the rules say (a time entry logged, updated or deleted; a milestone completed; an
expense or a payment), because they are the books' raw material. Rules decide billing, always through the one
drafting path (`draft_invoice`, `bill_period`) and the one issuing step (`_issuing.issue`); a rule says what happens
to a clean draft (`auto_issue` or `hold_for_review`), flagged drafts always wait for approval, and in pilot mode
(workspace or client) everything is drafted and held. Notifications go to the outbox in the same transaction.

A payment that matches no open invoice as named is parked for a person (`payments_parked`), never guessed.

Everything here runs inside the worker's transaction for one job (see `jobs.py`): a failure rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import BadTransition, BillingError, Conflict, ValidationFailed
from domain.model.events import (
    DATA_MODELS,
    AccountingChanged,
    ContractEnded,
    DealWon,
    EventData,
    EventType,
    ExpenseRecorded,
    MilestoneCompleted,
    PaymentReceived,
    PeriodDue,
    SlaBreached,
    SubscriptionChanged,
    SubscriptionRenewed,
    TimeDeleted,
    TimeLogged,
)
from domain.model.lifecycle import Status
from domain.model.money import Money
from domain.model.periods import Cycle, period_containing
from domain.model.roles import Actor, Perm
from domain.model.versions import in_force
from domain.services import (
    _issuing,
    accounting_inbound,
    billing_run,
    clients,
    contracts,
    invoicing,
    payments_parked,
    work,
)
from domain.services._auth import require
from domain.services._context import load_context, versions_by_arrangement
from domain.services._drafting import base_version, build_lines, terms_of
from domain.services.events import source_actor
from domain.services.rules import OnboardParams, Rule, RuleBook, ThresholdParams
from domain.services.views import TimeEntryView
from domain.store.tables import ArrangementRow, ClientRow, EventRow, MilestoneRow, TimeEntryRow
from domain.store.uow import UnitOfWork

Step = Callable[[str], None]


class Retry(BillingError):
    """Not yet: something the event names does not exist yet (its client, its milestone), most likely because
    events arrived out of order. The job is retried with backoff, then dead-lettered with this reason."""

    code = "event.not_yet"
    status = 409


class Stale(Exception):
    """A newer event about the same subject was already applied."""


def _no_step(_name: str) -> None:
    return None


def handle_event(uow: UnitOfWork, ev: EventRow, book: RuleBook, step: Step | None = None) -> None:
    """Apply one stored event: its fact, then its rules; set its status and result. Raises to fail the job."""
    step = step or _no_step
    etype = EventType(ev.type)
    data = DATA_MODELS[etype].model_validate(ev.data)
    actor = source_actor(ev.source)
    now = uow.clock.now()
    stale = _newer_applied(uow, ev, book)
    if stale is not None:
        reason = f"superseded: event {stale.id} about the same {ev.subject_ref} happened later and was applied"
        _settle(book, ev, status="ignored", processed_at=now, reason=reason, result={"superseded_by": stale.id})
        uow.audit.record(actor, "event.ignored", "event", ev.id, after={"reason": reason})
        return
    result: dict[str, Any] = {}
    fact = _apply_fact(uow, actor, ev, etype, data, book)
    if fact:
        result["fact"] = fact
    ran = []
    for rule in book.matching(ev.type, ev.data):
        uow.set_cause(rule_id=rule.id, rules_version=book.version)
        outcome = _run_rule(uow, actor, rule, ev, data, book, step)
        ran.append({"rule": rule.id, **outcome})
    uow.audit.cause.pop("rule_id", None)
    if ran:
        result["rules"] = ran
    status = "processed" if (fact or ran) else "ignored"
    _settle(book, ev, result=result, processed_at=now, status=status,
            reason="" if status == "processed" else "no rule matches this event")
    if status == "processed" and ev.subject_ref:
        book.memo.pop(f"applied:{ev.subject_ref}", None)  # applied now: a later event about it must look
    if not etype.value.startswith("time."):
        _forget_hours(book)  # facts and rules of other kinds may bill time too (a time event's draft: _threshold)
    uow.audit.record(actor, "event.processed" if status == "processed" else "event.ignored", "event", ev.id,
                     after={"status": status, **result})


DEFER = "defer:events"  # memo key: a batch settles its events at its end (jobs._run_batch)


def _settle(book: RuleBook, ev: EventRow, **values: Any) -> None:
    """Set an event's outcome; in a batch, at its end (`settle_events`), so the batch's event rows are written
    together in one statement instead of one by one by the flushes of each event's own work."""
    pending = book.memo.get(DEFER)
    if isinstance(pending, list):
        pending.append((ev, values))
        return
    for k, v in values.items():
        setattr(ev, k, v)


def settle_events(book: RuleBook) -> None:
    """Give the events of the batch so far their outcomes (before anything reads events back, and at its end)."""
    pending = book.memo.get(DEFER)
    if isinstance(pending, list):
        for ev, values in pending:
            for k, v in values.items():
                setattr(ev, k, v)
        pending.clear()


def _newer_applied(uow: UnitOfWork, ev: EventRow, book: RuleBook) -> EventRow | None:
    if not ev.subject_ref or ev.occurred_at is None:
        return None
    if book.memo.get(f"applied:{ev.subject_ref}") is _ABSENT:
        return None  # nothing about it was applied when the batch began, nor since (see handle_event)
    settle_events(book)
    for other in uow.events.applied_about(ev.subject_ref, ev.id):
        if other.occurred_at is not None and other.occurred_at > ev.occurred_at:
            return other
        return None
    return None


# ---- resolving what an event names ---------------------------------------------------------------------------------


def resolve_client(uow: UnitOfWork, book: RuleBook, ref: str) -> ClientRow | None:
    """A client by external ref, through the rules' aliases; `client:12` names one by id. Found clients are
    remembered for the rest of the batch (a batch of time entries is mostly the same few clients)."""
    key = f"client:{ref}"
    hit = book.memo.get(key)
    if isinstance(hit, ClientRow):
        return hit  # the same session's object (the memo lives for one transaction)
    client = _lookup_client(uow, book, ref)
    if client is not None:
        book.memo[key] = client
    return client


_ABSENT = object()  # memo value: looked up for this batch, not there


def prefetch(uow: UnitOfWork, book: RuleBook, events: Sequence[EventRow]) -> None:
    """Look up what a batch of time events names (clients, existing entries) in two queries, not two per event.

    The memo lives for the batch's transaction; a failed job clears it, and the lookups run one by one again.
    """
    timed = [e.data for e in events if e.type.startswith("time.") and isinstance(e.data, dict)]
    refs = sorted({str(d["entry_ref"]) for d in timed if d.get("entry_ref")})
    if refs:
        found = {r.external_ref: r for r in uow.work.time_entries_by_refs(refs)}
        for ref in refs:
            book.memo[f"entry:{ref}"] = found.get(ref, _ABSENT)
    names = sorted({str(d["client_ref"]) for d in timed if d.get("client_ref") and book.alias(str(d["client_ref"]))
                    is None} - {k[7:] for k in book.memo if k.startswith("client:")})
    if names:
        for c in uow.clients.by_external_refs(names):
            book.memo[f"client:{c.external_ref}"] = c
    # Which subjects were never applied: their events need no "is a newer one applied?" query each.
    subjects = sorted({e.subject_ref for e in events if e.subject_ref and e.occurred_at is not None})
    if subjects:
        applied = uow.events.subjects_applied(subjects)
        for subject in subjects:
            if subject not in applied:
                book.memo[f"applied:{subject}"] = _ABSENT
    # Unbilled hours of every client a threshold rule will look at, in one aggregate; each entry the batch
    # records adds to its client's figure, and anything else that changes them (drafting, an update, a delete)
    # drops the figures, so the next look is a query again.
    thresholds = [e.data for e in events if e.type.startswith("time.") and isinstance(e.data, dict)
                  and any(r.action == "bill_threshold" for r in book.matching(e.type, e.data))]
    ids = sorted({c.id for d in thresholds if d.get("client_ref")
                  for c in [book.memo.get(f"client:{d['client_ref']}")] if isinstance(c, ClientRow)})
    if ids:
        today = uow.clock.today()
        for cid, figure in uow.work.unbilled_hours_many(ids, today).items():
            book.memo[f"hours:{cid}:{today}"] = figure


def _forget_hours(book: RuleBook) -> None:
    """Unbilled hours may have changed other than by a new entry: look them up again."""
    for key in [k for k in book.memo if k.startswith("hours:")]:
        del book.memo[key]


def _unbilled_hours(uow: UnitOfWork, book: RuleBook, client_id: int, today: date) -> tuple[date | None, int]:
    key = f"hours:{client_id}:{today}"
    hit = book.memo.get(key)
    if isinstance(hit, tuple):
        return hit
    # Kept like the prefetched figures: the batch's next entries add to it, anything else drops it. Without this,
    # every later event of a client after a draft cost a flush and this query (2 statements each).
    book.memo[key] = figure = uow.work.unbilled_hours(client_id, today)
    return figure


def _hours_added(uow: UnitOfWork, book: RuleBook, client_id: int, day: date, centi: int) -> None:
    """A new entry of this batch counts in its client's unbilled hours (if they are known)."""
    today = uow.clock.today()
    key = f"hours:{client_id}:{today}"
    hit = book.memo.get(key)
    if isinstance(hit, tuple) and day <= today:
        first, total = hit
        book.memo[key] = (day if first is None else min(first, day), total + centi)


def _entry_by_ref(uow: UnitOfWork, book: RuleBook, ref: str) -> TimeEntryRow | None:
    hit = book.memo.get(f"entry:{ref}")
    if hit is _ABSENT:
        return None
    if isinstance(hit, TimeEntryRow):
        return hit
    return uow.work.time_entry_by_ref(ref)


def _lookup_client(uow: UnitOfWork, book: RuleBook, ref: str) -> ClientRow | None:
    target = book.alias(ref)
    if isinstance(target, int):
        return uow.clients.get(target)
    name = target or ref
    client = uow.clients.by_external_ref(name)
    if client is None and name.startswith("client:") and name[7:].isdigit():
        client = uow.clients.get(int(name[7:]))
    return client


def _client(uow: UnitOfWork, book: RuleBook, ref: str) -> ClientRow:
    client = resolve_client(uow, book, ref)
    if client is None:
        raise Retry(f"no client is known as {ref!r} yet: create it (a won deal does), give a client that "
                    "external_ref, or map the ref in the rules' aliases; then retry the event", field="client_ref")
    return client


def _milestone(uow: UnitOfWork, book: RuleBook, data: MilestoneCompleted) -> MilestoneRow:
    m = uow.arrangements.milestone_by_ref(data.milestone_ref)
    if m is not None:
        return m
    client = resolve_client(uow, book, data.project_ref) if data.project_ref else None
    if client is not None and data.name:
        wanted = data.name.strip().casefold()
        found = [ms for a in uow.arrangements.for_client(client.id, active_only=False)
                 for ms in uow.arrangements.milestones(a.id)
                 if ms.name.strip().casefold() == wanted and ms.external_ref is None]
        if found:
            found.sort(key=lambda ms: (ms.completed_on is not None, ms.id))
            found[0].external_ref = data.milestone_ref  # linked from now on
            return found[0]
    raise Retry(f"no milestone is linked to {data.milestone_ref!r}"
                + (f" and {data.project_ref!r} names no client with a milestone called {data.name!r}"
                   if data.project_ref else "") + ": link it (external ref) or alias the project, then retry",
                field="milestone_ref")


def _first_arrangement(uow: UnitOfWork, client: ClientRow, kind: str) -> int:
    for a in uow.arrangements.for_client(client.id):
        if a.kind == kind:
            return a.id
    raise ValidationFailed(f"{client.name} has no active {kind.replace('_', ' ')} arrangement to record this on",
                           code="event.no_arrangement", field="client_ref")


def _already(uow: UnitOfWork, ev: EventRow, book: RuleBook) -> EventRow | None:
    if not ev.subject_ref:
        return None
    settle_events(book)
    applied = uow.events.applied_about(ev.subject_ref, ev.id)
    return applied[0] if applied else None


# ---- facts -------------------------------------------------------------------------------------------------------


def _apply_fact(uow: UnitOfWork, actor: Actor, ev: EventRow, etype: EventType, data: EventData,
                book: RuleBook) -> dict[str, Any]:
    if isinstance(data, TimeLogged):
        return _sync_time(uow, actor, book, data)
    if isinstance(data, TimeDeleted):
        return _delete_time(uow, actor, book, data.entry_ref)
    if isinstance(data, MilestoneCompleted):
        m = _milestone(uow, book, data)
        view = work.complete_milestone(uow, actor, m.id, data.completed_on)
        return {"milestone_id": m.id, "completed_on": str(view.completed_on), "billed_on": view.invoice_id}
    if isinstance(data, ExpenseRecorded):
        earlier = _already(uow, ev, book)
        if earlier is not None:
            return {"expense": f"already recorded by event {earlier.id}"}
        client = _client(uow, book, data.client_ref)
        out = work.record_expense(uow, actor, {
            "client_id": client.id, "arrangement_id": _first_arrangement(uow, client, "pass_through"),
            "date": data.date, "description": data.description, "cost": data.cost})
        return {"expense_id": out["id"]}
    if isinstance(data, PaymentReceived):
        # applied when it matches an open invoice as named; otherwise parked for a person, never guessed
        return payments_parked.receive_payment(uow, actor, ev.id, data)
    if isinstance(data, SubscriptionChanged):
        return _change_seats(uow, actor, book, data)
    if isinstance(data, AccountingChanged):
        # read from QuickBooks and recorded once (by its id there), parked, or proposed to finance
        return accounting_inbound.apply_change(uow, actor, ev.id, data)
    return {}


def _change_seats(uow: UnitOfWork, actor: Actor, book: RuleBook, data: SubscriptionChanged) -> dict[str, Any]:
    """A new seat count from a date: an amendment like any other (its differences on invoiced periods go on the
    next invoice). The same count already in force from that date is a repeat: nothing changes."""
    client = _client(uow, book, data.client_ref)
    subs = [a for a in uow.arrangements.for_client(client.id) if a.kind == "subscription"]
    if data.product:
        subs = [a for a in subs if str(a.terms.get("product", "")).casefold() == data.product.casefold()
                or a.name.casefold() == data.product.casefold()]
    if len(subs) != 1:
        raise ValidationFailed(f"{client.name} has {len(subs) or 'no'} active subscription"
                               f"{'s' if len(subs) != 1 else ''}{' for ' + repr(data.product) if data.product else ''}"
                               ": name the product", code="event.no_arrangement", field="product")
    a = subs[0]
    same_day = [v for v in uow.arrangements.versions_for([a.id]) if v.effective_on == data.effective_on]
    if same_day and (same_day[0].terms or {}).get("seats") == data.seats:
        return {"arrangement_id": a.id, "seats": data.seats, "change": "already in force"}
    current = contracts.seats_on(uow, a, data.effective_on)
    if current == data.seats and not same_day:
        return {"arrangement_id": a.id, "seats": data.seats, "change": "already in force"}
    out = contracts.amend_arrangement(uow, actor, client.id, a.id, {
        "effective_on": data.effective_on, "terms": {"seats": data.seats},
        "reason": f"subscription.changed from {data.client_ref}"})
    assert out.version is not None
    return {"arrangement_id": a.id, "seats": data.seats, "version": out.version.number,
            "adjustments": [x.amount for x in out.preview.adjustments]}


def _hours_centi(hours: str) -> int:
    return int(Decimal(hours) * 100)


def _sync_time(uow: UnitOfWork, actor: Actor, book: RuleBook, data: TimeLogged) -> dict[str, Any]:
    """Create or update the time entry an external tracker reports (an update of an entry we never saw creates
    it: updates can overtake creations). A billed entry is never changed: correct it with a credit note."""
    entry = _entry_by_ref(uow, book, data.entry_ref)
    if not data.billable:
        if entry is None:
            return {"time_entry": "not billable: not recorded"}
        return {**_delete_time(uow, actor, book, data.entry_ref), "why": "no longer billable"}
    client = _client(uow, book, data.client_ref)
    if entry is None:
        view = work.log_time(uow, actor, {"client_id": client.id, "person": data.person, "role": data.role,
                                          "date": data.date, "hours": data.hours, "description": data.description,
                                          "external_ref": data.entry_ref})
        book.memo.pop(f"entry:{data.entry_ref}", None)  # there now: a later event about it looks it up
        _hours_added(uow, book, client.id, data.date, _hours_centi(data.hours))
        return {"time_entry_id": view.id, "change": "created"}
    new = {"client_id": client.id, "person": data.person, "role": data.role, "day": data.date,
           "hours_centi": _hours_centi(data.hours), "description": data.description}
    if all(getattr(entry, k) == v for k, v in new.items()):
        return {"time_entry_id": entry.id, "change": "unchanged"}
    billed = uow.work.is_claimed("time", entry.id)
    if billed is not None:
        raise ValidationFailed(f"time entry {data.entry_ref} is already billed (invoice id {billed}); it cannot "
                               "change now: correct the invoice with a credit note", code="time.already_billed",
                               field="entry_ref")
    if not 0 < _hours_centi(data.hours) <= 2400:
        raise ValidationFailed("hours must be more than 0 and at most 24", field="hours")
    before = TimeEntryView.of(entry).model_dump(mode="json")
    _forget_hours(book)
    for k, v in new.items():
        setattr(entry, k, v)
    uow.flush()
    uow.audit.record(actor, "time.updated", "time_entry", entry.id, before=before,
                     after=TimeEntryView.of(entry).model_dump(mode="json"))
    return {"time_entry_id": entry.id, "change": "updated"}


def _delete_time(uow: UnitOfWork, actor: Actor, book: RuleBook, ref: str) -> dict[str, Any]:
    entry = _entry_by_ref(uow, book, ref)
    if entry is None:
        return {"time_entry": "unknown: nothing to delete (a later creation of it is ignored as older)"}
    billed = uow.work.is_claimed("time", entry.id)
    if billed is not None:
        raise ValidationFailed(f"time entry {ref} is already billed (invoice id {billed}); it cannot be deleted "
                               "now: correct the invoice with a credit note", code="time.already_billed",
                               field="entry_ref")
    before = TimeEntryView.of(entry).model_dump(mode="json")
    _forget_hours(book)
    uow.session.delete(entry)
    uow.flush()
    book.memo[f"entry:{ref}"] = _ABSENT
    uow.audit.record(actor, "time.deleted", "time_entry", before["id"], before=before)
    return {"time_entry_id": before["id"], "change": "deleted"}


# ---- rules -------------------------------------------------------------------------------------------------------


def _run_rule(uow: UnitOfWork, actor: Actor, rule: Rule, ev: EventRow, data: EventData, book: RuleBook,
              step: Step) -> dict[str, Any]:
    params = rule.typed_params()
    today = uow.clock.today()
    if rule.action == "onboard_client":
        assert isinstance(data, DealWon) and isinstance(params, OnboardParams)
        return _onboard(uow, actor, rule, ev, data, params, book, step)
    if rule.action == "bill_milestone":
        assert isinstance(data, MilestoneCompleted)
        m = _milestone(uow, book, data)
        billed = uow.work.is_claimed("milestone", m.id)
        if billed is not None:
            return {"outcome": f"milestone already billed (invoice id {billed})", "invoices": []}
        arrangement = uow.arrangements.get(m.arrangement_id)
        closed = arrangement is not None and not arrangement.active
        ids = _draft(uow, actor, m.client_id, data.completed_on, data.completed_on, step)
        note = "its project was closed: held for review whatever the rule says" if closed else None
        return _finish_all(uow, actor, rule, ids, step, hold_reason=note)
    if rule.action == "bill_threshold":
        assert isinstance(data, TimeLogged) and isinstance(params, ThresholdParams)
        client = _client(uow, book, data.client_ref)
        return _threshold(uow, actor, rule, client, params, today, step, book)
    if rule.action == "bill_period":
        assert isinstance(data, PeriodDue)
        return _bill_window(uow, actor, rule, data.client_id, data.period_start, min(data.period_end, today), step)
    if rule.action == "close_contract":
        assert isinstance(data, ContractEnded)
        a = uow.arrangements.get(data.arrangement_id)
        cycle = _cycle_on(uow, a, data.ends_on) if a is not None else Cycle.MONTHLY
        start = period_containing(data.ends_on, cycle).start
        out = _bill_window(uow, actor, rule, data.client_id, start, data.ends_on, step)
        if a is not None and a.active:
            clients.close_arrangement(uow, actor, a.id)
            out["closed_arrangement"] = a.id
        return out
    if rule.action == "bill_now":
        client_id, day = _client_and_day(uow, book, data)
        ids = _draft(uow, actor, client_id, day, day, step)
        return _finish_all(uow, actor, rule, ids, step)
    if rule.action == "credit_next_invoice":
        assert isinstance(data, SlaBreached)
        client = _client(uow, book, data.client_ref)
        out = work.record_breach(uow, actor, {"client_id": client.id,
                                              "arrangement_id": _first_arrangement(uow, client, "sla_credit"),
                                              "occurred_on": data.occurred_on, "description": data.description})
        return {"outcome": "the credit lands on the client's next invoice", "breach_id": out["id"], "invoices": []}
    raise AssertionError(f"unhandled action {rule.action}")  # pragma: no cover - the rules validator knows them


def _cycle_on(uow: UnitOfWork, a: ArrangementRow, day: date) -> Cycle:
    """The billing cycle of the version of an arrangement's terms in force on a day (amendments change it)."""
    versions = versions_by_arrangement(uow, [a.id]).get(a.id) or [base_version(a)]
    return Cycle((in_force(versions, day).terms or a.terms or {}).get("cycle") or "monthly")


def _client_and_day(uow: UnitOfWork, book: RuleBook, data: EventData) -> tuple[int, date]:
    if isinstance(data, SubscriptionRenewed):
        return _client(uow, book, data.client_ref).id, data.renewed_on
    if isinstance(data, ExpenseRecorded):
        return _client(uow, book, data.client_ref).id, data.date
    if isinstance(data, MilestoneCompleted):
        m = _milestone(uow, book, data)
        return m.client_id, data.completed_on
    if isinstance(data, DealWon):
        return _client(uow, book, data.client_ref).id, data.won_on
    raise AssertionError(f"bill_now cannot handle {type(data).__name__}")  # pragma: no cover


def _onboard(uow: UnitOfWork, actor: Actor, rule: Rule, ev: EventRow, data: DealWon, params: OnboardParams,
             book: RuleBook, step: Step) -> dict[str, Any]:
    earlier = _already(uow, ev, book)
    if earlier is not None:
        return {"outcome": f"deal already won (event {earlier.id}): nothing done twice", "invoices": []}
    client = resolve_client(uow, book, data.client_ref)
    created = client is None
    if client is None:
        emails = params.billing_emails or ([data.contact_email] if data.contact_email else [])
        view = clients.create_client(uow, actor, {
            "name": data.client_name, "currency": params.currency, "billing_emails": emails,
            "payment_terms_days": params.payment_terms_days, "tax_profile": params.tax_profile,
            "external_ref": data.client_ref})
        client = uow.clients.get(view.id)
        assert client is not None
    attached, done = [], []
    for terms in params.contract:
        a = clients.add_arrangement(uow, actor, client.id, {"starts_on": data.won_on, **terms})
        attached.append(a.id)
        for m in a.milestones:
            if m.name in params.complete_milestones:
                work.complete_milestone(uow, actor, m.id, data.won_on)
                done.append(m.id)
    out: dict[str, Any] = {"client_id": client.id, "client_created": created, "arrangements": attached,
                           "milestones_completed": done}
    if not params.draft:
        return {**out, "invoices": []}
    ids = _draft(uow, actor, client.id, data.won_on, data.won_on, step)
    return {**out, **_finish_all(uow, actor, rule, ids, step)}


def _threshold(uow: UnitOfWork, actor: Actor, rule: Rule, client: ClientRow, params: ThresholdParams, today: date,
               step: Step, book: RuleBook) -> dict[str, Any]:
    """Unbilled T&M hours or amount of the client against the thresholds (the rule's, else each T&M
    arrangement's own); reached -> draft the client's invoice for its unbilled work up to today. Hours are a
    sum; the amount is priced by the drafting code itself, and only when the hours alone did not decide."""
    first, centi = _unbilled_hours(uow, book, client.id, today)
    if first is None:
        return {"outcome": "no unbilled time", "invoices": []}
    hours = Decimal(centi) / 100
    limits_h = [Decimal(params.hours)] if params.hours else []
    limits_a = [Decimal(params.amount)] if params.amount else []
    if not limits_h and not limits_a:
        tm = [a for a in uow.arrangements.for_client(client.id) if a.kind == "time_and_materials"]
        versions = versions_by_arrangement(uow, [a.id for a in tm])
        for a in tm:  # the thresholds of the terms in force today (an amendment may change them from a later day)
            t = terms_of(a, in_force(versions.get(a.id) or [base_version(a)], today).terms)
            if getattr(t, "threshold_hours", None) is not None:
                limits_h.append(t.threshold_hours)  # type: ignore[attr-defined]
            if getattr(t, "threshold_amount", None) is not None:
                limits_a.append(t.threshold_amount)  # type: ignore[attr-defined]
    state = {"unbilled_hours": format(hours.normalize(), "f")}
    reached = any(hours >= h for h in limits_h)
    if not reached and limits_a:
        ctx = load_context(uow, [client], today)
        lines, _ = build_lines(ctx, client, first, today)
        amount = sum((ln.amount for ln in lines if ln.section == "time"), Decimal(0))
        state["unbilled_amount"] = Money(amount, client.currency).text
        reached = any(amount >= a for a in limits_a)
    if not reached:
        return {"outcome": "below the threshold", **state, "invoices": []}
    # The draft claims them (and may bill other time of this client too); it bills no other client's time, so
    # their figures stay (a time event's rules only ever draft for its client: see handle_event).
    book.memo.pop(f"hours:{client.id}:{today}", None)
    ids = _draft(uow, actor, client.id, first, today, step)
    done = _finish_all(uow, actor, rule, ids, step)
    return {**state, **done, "outcome": f"threshold reached: {done['outcome']}"}


def _bill_window(uow: UnitOfWork, actor: Actor, rule: Rule, client_id: int, start: date, end: date,
                 step: Step) -> dict[str, Any]:
    report = billing_run.bill_period(uow, actor, start, end, client_ids=[client_id], issue=False)
    if any(e.get("code") == "invoice.already_billed" for e in report.errors):
        raise Conflict("another worker billed some of this client's work a moment ago", code="invoice.already_billed")
    if report.errors:
        e = report.errors[0]
        raise ValidationFailed(str(e.get("message")), code=str(e.get("code")), field=e.get("field"))
    if report.invoice_ids:
        step("after_drafting")
    out = _finish_all(uow, actor, rule, report.invoice_ids, step)
    if report.already_drafted:
        out["outcome"] = "an open draft for this period already exists"
    return out


def _draft(uow: UnitOfWork, actor: Actor, client_id: int, start: date, end: date, step: Step) -> list[int]:
    """Draft through the one drafting path; only a draft made now is ours to finish (an open draft someone made
    for the same period is returned by draft_invoice, and left alone here)."""
    try:
        view = invoicing.draft_invoice(uow, actor, client_id, start, end)
    except (ValidationFailed, BadTransition) as e:
        if e.code in ("invoice.nothing_to_bill", "client.archived"):  # archived clients: no rule drafts for them
            return []
        raise
    if not view.created:
        return []
    step("after_drafting")
    return [view.id]


# ---- finishing a draft: issue, hold, or (pilot) just hold ---------------------------------------------------------


def _finish_all(uow: UnitOfWork, actor: Actor, rule: Rule, invoice_ids: list[int], step: Step,
                hold_reason: str | None = None) -> dict[str, Any]:
    done = [_finish(uow, actor, rule, i, step, hold_reason) for i in invoice_ids]
    outcome = ", ".join(f"invoice {d['invoice_id']} {d['status']}" for d in done) or "nothing to bill"
    return {"outcome": outcome, "invoices": done}


def _finish(uow: UnitOfWork, actor: Actor, rule: Rule, invoice_id: int, step: Step,
            hold_reason: str | None) -> dict[str, Any]:
    """A draft the rule made, through the one issuing step: issued (auto_issue), held for review, or (pilot mode)
    held quietly. Blocked drafts stay drafts with their reasons; flagged ones wait for an approver."""
    # Made by this transaction a moment ago: nobody else sees it before our commit, so no lock (FOR UPDATE) is
    # needed, and it usually is still in the session (no query).
    inv = uow.invoices.get(invoice_id)
    assert inv is not None
    ws = uow.workspace.get()
    pilot = ws.pilot_mode or uow.pilot.is_on(inv.client_id)
    auto = rule.clean_draft == "auto_issue" and hold_reason is None and not pilot
    if inv.status != Status.DRAFT.value:  # pragma: no cover - the rule drafted it a moment ago
        return {"invoice_id": inv.id, "status": inv.status, "checks": "flag"}
    if auto:
        require(actor, Perm.ISSUE)
    [d] = _issuing.issue(uow, actor, [inv], via="rule", unattended=True, quiet=pilot, send=rule.send_on_issue,
                         hold=None if auto else (hold_reason or "the rule holds clean drafts"))
    uow.flush()
    out: dict[str, Any] = {"invoice_id": inv.id, "status": inv.status, "checks": d.outcome.value}
    if d.issued:
        step("after_issuing")
        out["number"] = inv.number
    if pilot:
        out["held"] = "pilot mode"
    elif hold_reason:
        out["held"] = hold_reason
    return out
