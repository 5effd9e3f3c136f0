"""The outbound QuickBooks sync: the worker's step that works the accounting queue (domain/services/accounting.py)
in order, and the first push of an existing book through the batch endpoint.

Each task is idempotent: writes carry a `requestid` derived from the queue row (QuickBooks replays the first answer),
a document is looked up by DocNumber before it is created (a process killed between the push and recording its
result finds it there instead of creating a second one; QuickBooks itself accepts duplicate DocNumbers), a customer
by DisplayName, a payment by the note it carries (`billable payment <id> [<prefix>]`, among the customer's payments
of that day). A payment recorded here from QuickBooks is never pushed back. 429 and 5xx leave the task for later
with backoff (the head of the queue waits, so order holds), a SyncToken conflict (5010) re-reads and retries, a 401
refreshes the token, and any other refusal marks the task dead with QuickBooks' reason (shown by `billable accounting
status`; `--retry` puts it back after the cause is fixed).

Crash points for the tests (BILLABLE_FAULT_AT): accounting_before_push, accounting_after_push (pushed, not yet
recorded), accounting_after_record.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from channels.accounting.connection import REFRESH_MARGIN, Connection
from channels.accounting.quickbooks import (
    AuthFailed,
    Fault,
    QuickBooksApi,
    QuickBooksError,
    RateLimited,
    ServerError,
    StaleObject,
    Throttle,
    fault_of,
)
from domain.errors import BillingError
from domain.model import accounting as acc
from domain.model.money import minor_exponent
from domain.model.roles import Actor
from domain.services import accounting
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.accounting")

ENTITY = {"invoice": "Invoice", "credit_note": "CreditMemo"}
BATCH_SIZE = 30  # Intuit recommends at most 30 payloads per batch request
STALE_RETRIES = 3


class _Wait(Exception):
    """Leave the task for later (the head of the queue waits)."""


class QuickBooksSync:
    """Pushes the accounting queue to the connected QuickBooks company. `run_once` is the worker's step."""

    def __init__(self, db: Database, settings: Settings, name: str | None = None,
                 step: Callable[[str], None] | None = None, http: httpx.Client | None = None,
                 throttle: Throttle | None = None) -> None:
        self.db, self.settings, self.step = db, settings, step
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:qbo"
        self.actor = Actor.system(f"accounting sync {self.name}")
        self.link = Connection(db, settings, self.actor, http=http, throttle=throttle)
        self.max_wait = settings.quickbooks_max_wait_seconds
        self.batch_size = BATCH_SIZE
        self._income_account: str | None = None
        self.stats = {"calls": 0, "rate_limited": 0, "server_errors": 0, "stale": 0}

    def close(self) -> None:
        self.link.close()

    def _step(self, name: str) -> None:
        if self.step is not None:
            self.step(name)

    # ---- the worker's step -------------------------------------------------------------------------------------

    def run_once(self, limit: int = 50) -> int:
        """Push up to `limit` queued tasks in order (after the backfill of an existing book); how many finished.
        Idle, it costs one short read (and a token refresh when the access token nears its end, which also keeps
        the refresh token alive)."""
        sec = accounting.connection_secrets(self.db.uow(), self.actor)
        if sec is None or sec.status != "connected":
            return 0
        near_end = sec.access_expires_at is None or \
            sec.access_expires_at - self.db.clock.now() < REFRESH_MARGIN
        if sec.backfilled and not sec.ready and not near_end:
            return 0
        if not accounting.take_lease(self.db.uow(), self.actor, self.name):
            return 0
        try:
            api = self.link.api()
            if api is None:
                return 0
            done = 0
            if not sec.backfilled:
                done += self.backfill(api)
            for task in accounting.next_tasks(self.db.uow(), self.actor, limit):
                if not self._renew():
                    break
                try:
                    self.run_task(api, task)
                except _Wait:
                    break
                done += 1
            return done
        finally:
            self.stats["calls"] += getattr(self.link._api, "calls", 0)
            if self.link._api is not None:
                self.link._api.calls = 0
            accounting.release_lease(self.db.uow(), self.actor, self.name)

    def _renew(self) -> bool:
        """Extend our lease before each push: a long round (a big backfill) must never overlap another worker's,
        which would break the order and could race two creates past the DocNumber look-up."""
        return accounting.take_lease(self.db.uow(), self.actor, self.name)

    def run_until_idle(self, rounds: int = 1000) -> int:
        total = 0
        for _ in range(rounds):
            n = self.run_once()
            if not n:
                break
            total += n
        return total

    def run_task(self, api: QuickBooksApi, task: accounting.Task) -> None:
        """One task, with the failure policy; raises _Wait when the queue must wait (nothing after it runs now)."""
        try:
            if task.subject == "customer":
                self.push_customer(api, task.ref_id, task)
                accounting.task_done(self.db.uow(), self.actor, task.id)
            elif task.subject in ENTITY:
                self.push_document(api, task.ref_id, task)
            elif task.subject == "void":
                self.push_void(api, task.ref_id, task)
            elif task.subject == "payment":
                self.push_payment(api, task.ref_id, task)
            else:
                accounting.task_done(self.db.uow(), self.actor, task.id, f"nothing to do for {task.subject}")
        except RateLimited as e:
            self.stats["rate_limited"] += 1
            wait = min(e.retry_after if e.retry_after is not None else 60.0, self.max_wait)
            accounting.task_failed(self.db.uow(), self.actor, task.id, str(e), wait)
            raise _Wait from e
        except ServerError as e:
            self.stats["server_errors"] += 1
            wait = min(2.0 ** (task.attempts + 1), self.max_wait)
            accounting.task_failed(self.db.uow(), self.actor, task.id, str(e), wait)
            raise _Wait from e
        except AuthFailed as e:
            # the token was refused before its time (revoked?): one forced refresh; a refused refresh pauses
            self.link.api(force_refresh=True)
            accounting.task_failed(self.db.uow(), self.actor, task.id, str(e), 0)
            raise _Wait from e
        except StaleObject as e:
            accounting.task_failed(self.db.uow(), self.actor, task.id, str(e), min(5.0, self.max_wait))
            raise _Wait from e
        except (Fault, acc.DocNumberTooLong, BillingError) as e:
            log.warning("accounting task %s (%s %s) refused for good: %s", task.id, task.topic, task.ref_id, e)
            accounting.task_failed(self.db.uow(), self.actor, task.id, str(e), None)

    def _rid(self, task: accounting.Task | None, step: str) -> str | None:
        # The same id for the same attempt (a process killed after the write replays QuickBooks' first answer); a
        # new one after a recorded failure, whose answer (a Fault, say) must not be replayed once the cause is fixed.
        if task is None:
            return None
        return acc.request_id(self.link.prefix, task.id, f"{task.payload.get('round', 0)}.{task.attempts}{step}")

    # ---- customers and items -----------------------------------------------------------------------------------

    def customer_body(self, c: acc.PushCustomer) -> dict[str, Any]:
        body: dict[str, Any] = {"DisplayName": c.display_name[:500], "CompanyName": c.display_name[:100]}
        if c.currency:  # a foreign-currency customer needs multicurrency on there; else QuickBooks refuses (shown)
            body["CurrencyRef"] = {"value": c.currency}
        if c.email:
            body["PrimaryEmailAddr"] = {"Address": c.email}
        if c.street or c.city or c.postcode or c.country:
            body["BillAddr"] = {"Line1": c.street, "City": c.city, "PostalCode": c.postcode,
                                "CountrySubDivisionCode": c.region, "Country": c.country}
        if c.vat_id:
            body["Notes"] = f"VAT ID {c.vat_id}"
        return body

    def push_customer(self, api: QuickBooksApi, client_id: int, task: accounting.Task | None = None) -> str:
        """The customer's id there, created or brought up to date."""
        cust = accounting.customer_for(self.db.uow(), client_id)
        digest, body = cust.digest(), self.customer_body(cust)
        m = accounting.get_mapping(self.db.uow(), "customer", client_id)
        if m is not None and m.pushed_hash == digest:
            return m.remote_id
        if m is None:
            found = api.find("Customer", "DisplayName", cust.display_name)
            if not found:
                obj = api.create("Customer", body, request_id=self._rid(task, f"cu{client_id}"))
                accounting.put_mapping(self.db.uow(), self.actor, "customer", client_id, str(obj["Id"]),
                                       str(obj["SyncToken"]), pushed_hash=digest)
                return str(obj["Id"])
            remote_id, token = str(found[0]["Id"]), str(found[0]["SyncToken"])
        else:
            remote_id, token = m.remote_id, m.sync_token
        for attempt in range(STALE_RETRIES + 1):
            try:
                obj = api.update("Customer", {"Id": remote_id, "SyncToken": token, **body},
                                 request_id=self._rid(task, f"cu{client_id}-{token}"))
                break
            except StaleObject:
                self.stats["stale"] += 1
                if attempt == STALE_RETRIES:
                    raise
                token = str(api.read("Customer", remote_id)["SyncToken"])
        accounting.put_mapping(self.db.uow(), self.actor, "customer", client_id, remote_id, str(obj["SyncToken"]),
                               pushed_hash=digest)
        return remote_id

    def income_account(self, api: QuickBooksApi) -> str:
        if self._income_account is None:
            found = api.query("select * from Account where AccountType = 'Income'").get("Account") or []
            if not found:
                raise Fault(400, "income", "QuickBooks has no income account for the items")
            self._income_account = str(found[0]["Id"])
        return self._income_account

    def items(self, api: QuickBooksApi, kinds: set[str]) -> dict[str, tuple[str, str]]:
        """arrangement kind -> (item id, item name) there, finding or creating the configured items."""
        rows = accounting.item_rows(self.db.uow())
        out: dict[str, tuple[str, str]] = {}
        for kind in sorted(kinds):
            name, account, remote = rows.get(kind, rows["manual"])
            if not remote:
                found = api.find("Item", "Name", name)
                if found:
                    remote = str(found[0]["Id"])
                else:
                    obj = api.create("Item", {"Name": name, "Type": "Service", "IncomeAccountRef": {
                        "value": account or self.income_account(api)}}, request_id=None)
                    remote = str(obj["Id"])
                accounting.put_item_remote(self.db.uow(), self.actor, kind if kind in rows else "manual", remote)
            out[kind] = (remote, name)
        return out

    # ---- invoices and credit memos -----------------------------------------------------------------------------

    def document_body(self, doc: acc.PushDocument, customer_id: str, items: dict[str, tuple[str, str]],
                      tax_codes: dict[str, str]) -> dict[str, Any]:
        quantum = Decimal(1).scaleb(-minor_exponent(doc.currency))
        sign = -1 if doc.kind == "credit_note" and doc.total < 0 else 1
        lines = []
        for ln in doc.lines:
            amount, price, qty = ln.amount * sign, ln.unit_price * sign, ln.quantity
            detail: dict[str, Any] = {"ItemRef": {"value": items[ln.item_kind][0], "name": items[ln.item_kind][1]},
                                      "TaxCodeRef": {"value": acc.tax_code_for(ln.tax_mode, ln.tax_rate, tax_codes)}}
            if qty and (qty * price).quantize(quantum, rounding=ROUND_HALF_UP) == amount:
                detail["Qty"], detail["UnitPrice"] = qty, price
            else:  # a prorated or rounded line: QuickBooks wants Amount = Qty x UnitPrice exactly
                detail["Qty"], detail["UnitPrice"] = Decimal(1), amount
            lines.append({"DetailType": "SalesItemLineDetail", "Amount": amount,
                          "Description": ln.description[:4000], "SalesItemLineDetail": detail})
        body: dict[str, Any] = {
            "DocNumber": acc.doc_number(doc.number), "TxnDate": doc.issue_date, "CustomerRef": {"value": customer_id},
            "Line": lines, "TxnTaxDetail": {"TotalTax": doc.tax * sign}, "GlobalTaxCalculation": "TaxExcluded",
            "CurrencyRef": {"value": doc.currency},
            "PrivateNote": f"billable {doc.kind.replace('_', ' ')} {doc.invoice_id}"}
        if doc.due_date and doc.kind == "invoice":
            body["DueDate"] = doc.due_date
        if doc.memo:
            body["CustomerMemo"] = {"value": doc.memo[:1000]}
        return body

    def _prepare(self, api: QuickBooksApi, doc: acc.PushDocument, task: accounting.Task | None) -> dict[str, Any]:
        customer_id = self.push_customer(api, doc.client_id, task)
        items = self.items(api, {ln.item_kind for ln in doc.lines})
        return self.document_body(doc, customer_id, items, self.link.tax_codes)

    def _record(self, doc: acc.PushDocument, obj: dict[str, Any], task: accounting.Task | None) -> None:
        total = Decimal(str(obj.get("TotalAmt", doc.total)))
        accounting.put_mapping(
            self.db.uow(), self.actor, doc.kind, doc.invoice_id, str(obj["Id"]), str(obj["SyncToken"]),
            pushed_hash=doc.digest(), total_minor=int(total.scaleb(minor_exponent(doc.currency))),
            currency=doc.currency, doc_number=doc.number, task_id=task.id if task else None)

    def push_document(self, api: QuickBooksApi, invoice_id: int, task: accounting.Task | None = None) -> str:
        """The invoice's (or credit memo's) id there: created once, whatever was interrupted before."""
        doc = accounting.document_for(self.db.uow(), invoice_id)
        m = accounting.get_mapping(self.db.uow(), doc.kind, invoice_id)
        if m is not None and task is not None and task.payload.get("force"):
            return self.repush_document(api, doc, m.remote_id, task)
        if m is not None:
            if task is not None:
                accounting.task_done(self.db.uow(), self.actor, task.id, "already there")
            return m.remote_id
        body = self._prepare(api, doc, task)
        entity = ENTITY[doc.kind]
        # Looked up first: a push interrupted after QuickBooks created it left no mapping here
        found = [o for o in api.find(entity, "DocNumber", body["DocNumber"])
                 if str((o.get("CustomerRef") or {}).get("value")) == body["CustomerRef"]["value"]]
        if found:
            obj = found[0]
        else:
            self._step("accounting_before_push")
            obj = api.create(entity, body, request_id=self._rid(task, f"doc{invoice_id}"))
            self._step("accounting_after_push")
        self._record(doc, obj, task)
        self._step("accounting_after_record")
        return str(obj["Id"])

    def repush_document(self, api: QuickBooksApi, doc: acc.PushDocument, remote_id: str,
                        task: accounting.Task) -> str:
        """A re-push the drift report asked for (`force`): what our books say replaces what QuickBooks has (a
        sparse update with every line), or is created again when QuickBooks no longer has it."""
        body = self._prepare(api, doc, task)
        entity = ENTITY[doc.kind]
        try:
            current: dict[str, Any] | None = api.read(entity, remote_id)
        except Fault as e:
            if e.code != "610":
                raise
            current = None
        if current is None:
            obj = api.create(entity, body, request_id=self._rid(task, f"redoc{doc.invoice_id}"))
        else:
            obj = api.update(entity, {**body, "Id": current["Id"], "SyncToken": current["SyncToken"]},
                             request_id=self._rid(task, f"repush{doc.invoice_id}-{current['SyncToken']}"))
        self._record(doc, obj, task)
        return str(obj["Id"])

    def push_void(self, api: QuickBooksApi, invoice_id: int, task: accounting.Task) -> None:
        m = accounting.get_mapping(self.db.uow(), "invoice", invoice_id)
        if m is None:
            self.push_document(api, invoice_id, None)
            m = accounting.get_mapping(self.db.uow(), "invoice", invoice_id)
            assert m is not None
        if m.remote_status == "voided":
            accounting.task_done(self.db.uow(), self.actor, task.id, "already voided")
            return
        token = m.sync_token
        for attempt in range(STALE_RETRIES + 1):
            try:
                obj = api.void_invoice(m.remote_id, token, request_id=self._rid(task, f"void{invoice_id}-{token}"))
                break
            except StaleObject:
                self.stats["stale"] += 1
                if attempt == STALE_RETRIES:
                    raise
                token = str(api.read("Invoice", m.remote_id)["SyncToken"])
        self._step("accounting_after_push")
        accounting.put_mapping(self.db.uow(), self.actor, "invoice", invoice_id, m.remote_id, str(obj["SyncToken"]),
                               remote_status="voided", task_id=task.id)

    # ---- payments ------------------------------------------------------------------------------------------------

    def payment_body(self, pay: acc.PushPayment, customer_id: str, invoice_remote: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "CustomerRef": {"value": customer_id}, "TotalAmt": pay.amount, "TxnDate": pay.received_on,
            "CurrencyRef": {"value": pay.currency}, "PrivateNote": acc.payment_note(self.link.prefix, pay.payment_id),
            "Line": [{"Amount": pay.amount, "LinkedTxn": [{"TxnId": invoice_remote, "TxnType": "Invoice"}]}]}
        if pay.reference:
            body["PaymentRefNum"] = pay.reference[:acc.PAYMENT_REF_MAX]
        return body

    def push_payment(self, api: QuickBooksApi, payment_id: int, task: accounting.Task) -> None:
        """A payment recorded here becomes a Payment there linked to the invoice (which is pushed first if it is
        not there yet): created once, whatever was interrupted, and never for a payment that came from there."""
        uow = self.db.uow
        if accounting.payment_is_theirs(uow(), payment_id):
            accounting.task_done(uow(), self.actor, task.id, "recorded from QuickBooks: it is there already")
            return
        pay = accounting.payment_for(uow(), payment_id)
        m = accounting.get_mapping(uow(), "payment", payment_id)
        if m is not None and not task.payload.get("force"):
            accounting.task_done(uow(), self.actor, task.id, "already there")
            return
        inv = accounting.get_mapping(uow(), "invoice", pay.invoice_id)
        if inv is None:
            self.push_document(api, pay.invoice_id, None)
            inv = accounting.get_mapping(uow(), "invoice", pay.invoice_id)
            assert inv is not None
        customer_id = self.push_customer(api, pay.client_id, task)
        body = self.payment_body(pay, customer_id, inv.remote_id)
        current: dict[str, Any] | None = None
        if m is not None:  # a forced push (the drift report): still there as ours says?
            try:
                current = api.read("Payment", m.remote_id)
            except Fault as e:
                if e.code != "610":
                    raise
            if current is not None and acc.voided_there(current):
                current = None  # voided there: ours is made again
        if current is None:
            # Looked up first: a push whose answer was lost (a 5xx after the write, a process killed after it) left
            # it there; our note on it says which payment it is (a voided one no longer carries it).
            quoted = customer_id.replace("'", "")
            found = api.query(f"select * from Payment where CustomerRef = '{quoted}' and TxnDate = "
                              f"'{pay.received_on}' maxresults 1000").get("Payment") or []
            current = next((o for o in found if acc.payment_of_note(o.get("PrivateNote"), self.link.prefix)
                            == payment_id), None)
        if current is None:
            self._step("accounting_before_push")
            obj = api.create("Payment", body, request_id=self._rid(task, f"pay{payment_id}"))
            self._step("accounting_after_push")
        elif m is not None and not _same_payment(current, body):
            obj = api.update("Payment", {**body, "Id": current["Id"], "SyncToken": current["SyncToken"]},
                             request_id=self._rid(task, f"repay{payment_id}-{current['SyncToken']}"))
        else:
            obj = current
        accounting.put_mapping(
            uow(), self.actor, "payment", payment_id, str(obj["Id"]), str(obj["SyncToken"]),
            pushed_hash=pay.digest(), total_minor=int(pay.amount.scaleb(minor_exponent(pay.currency))),
            currency=pay.currency, task_id=task.id)
        self._step("accounting_after_record")

    # ---- the first push of an existing book ----------------------------------------------------------------------

    def backfill(self, api: QuickBooksApi, chunk: int | None = None) -> int:
        """Push every issued invoice and credit note QuickBooks lacks, 30 to a batch request (one query per chunk
        finds those already there by DocNumber), then void the voided ones. How many were pushed."""
        chunk = min(chunk or self.batch_size, BATCH_SIZE)
        pushed = 0
        while True:
            todo = accounting.unpushed(self.db.uow(), self.actor, limit=chunk * 10)
            if not todo:
                break
            progressed = False
            for start in range(0, len(todo), chunk):
                if not self._renew():
                    return pushed  # another worker holds the sync now (ours ran out): it goes on from here
                part = todo[start:start + chunk]
                n = self._backfill_chunk(api, [i for i, _ in part])
                pushed += n
                progressed = progressed or n > 0
            if not progressed:
                break  # what is left was refused for good (logged): the queue's tasks will say so
        self._void_backfilled(api)
        accounting.mark_backfilled(self.db.uow(), self.actor)
        return pushed

    def _backfill_chunk(self, api: QuickBooksApi, ids: list[int]) -> int:
        docs = [accounting.document_for(self.db.uow(), i) for i in ids]
        bodies: dict[int, dict[str, Any]] = {}
        for doc in docs:
            try:
                bodies[doc.invoice_id] = self._prepare(api, doc, None)
            except (Fault, acc.DocNumberTooLong) as e:
                log.warning("backfill: %s %s refused: %s", doc.kind, doc.number, e)
        if not bodies:
            return 0
        by_id = {d.invoice_id: d for d in docs}
        # one query per entity finds what is there already (an interrupted backfill, or a book typed in by hand);
        # plain queries, so the batch requests per minute (40) all go to creating
        existing: dict[tuple[str, str, str], dict[str, Any]] = {}
        for entity in ("Invoice", "CreditMemo"):
            numbers = [b["DocNumber"] for i, b in bodies.items() if ENTITY[by_id[i].kind] == entity]
            if numbers:
                quoted = ",".join("'" + n.replace("'", "\\'") + "'" for n in numbers)
                found = api.query(f"select * from {entity} where DocNumber in ({quoted}) maxresults 1000")
                for o in found.get(entity) or []:
                    existing[(entity, str(o.get("DocNumber")), str((o.get("CustomerRef") or {}).get("value")))] = o
        create: list[dict[str, Any]] = []
        fresh: list[int] = []  # invoices there with no payment yet: ours recorded on them follow
        n = 0
        for i, b in bodies.items():
            entity = ENTITY[by_id[i].kind]
            o = existing.get((entity, b["DocNumber"], b["CustomerRef"]["value"]))
            if o is not None:
                self._record(by_id[i], o, None)
                if entity == "Invoice" and Decimal(str(o.get("Balance"))) == Decimal(str(o.get("TotalAmt"))):
                    fresh.append(i)
                n += 1
            else:
                create.append({"bId": str(i), "operation": "create", entity: b})
        if create:
            rid = acc.request_id(self.link.prefix, int(create[0]["bId"]), f"bf{len(create)}-{create[-1]['bId']}")
            self._step("accounting_before_push")
            results = api.batch(create, request_id=rid[:36])
            self._step("accounting_after_push")
            for item in results:
                err = fault_of(item)
                i = int(item["bId"])
                if err is not None:
                    log.warning("backfill: %s refused: %s", by_id[i].number, err)
                    continue
                self._record(by_id[i], item[ENTITY[by_id[i].kind]], None)
                if by_id[i].kind == "invoice":
                    fresh.append(i)
                n += 1
        if fresh:
            accounting.queue_payments_of(self.db.uow(), self.actor, fresh)
        return n

    def _void_backfilled(self, api: QuickBooksApi) -> None:
        """Invoices void here but not there (pushed by the backfill as they were issued): void them there."""
        for invoice_id in accounting.voided_unsynced(self.db.uow(), self.actor):
            m = accounting.get_mapping(self.db.uow(), "invoice", invoice_id)
            if m is None:
                continue
            try:
                obj = api.void_invoice(m.remote_id, m.sync_token,
                                       request_id=acc.request_id(self.link.prefix, invoice_id, "bfvoid"))
            except StaleObject:
                fresh = api.read("Invoice", m.remote_id)
                obj = api.void_invoice(m.remote_id, str(fresh["SyncToken"]))
            except QuickBooksError as e:
                log.warning("backfill: voiding invoice %s there failed: %s", invoice_id, e)
                continue
            accounting.put_mapping(self.db.uow(), self.actor, "invoice", invoice_id, m.remote_id,
                                   str(obj["SyncToken"]), remote_status="voided")


def _same_payment(obj: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether the Payment there says what ours would: amount, day and the invoice it pays."""
    def key(o: dict[str, Any]) -> tuple[Any, ...]:
        links = sorted((str(t.get("TxnId")), Decimal(str(ln.get("Amount")))) for ln in o.get("Line") or []
                       for t in ln.get("LinkedTxn") or [] if t.get("TxnType") == "Invoice")
        return Decimal(str(o.get("TotalAmt"))), str(o.get("TxnDate")), links

    return key(obj) == key(body)


def sync_for_settings(db: Database, settings: Settings, step: Callable[[str], None] | None = None,
                      name: str | None = None) -> QuickBooksSync | None:
    """The worker's sync when QuickBooks is configured (the Intuit app's keys set), else None."""
    if settings.quickbooks_missing() or not settings.accounting_token_key:
        return None
    return QuickBooksSync(db, settings, name=name, step=step)
