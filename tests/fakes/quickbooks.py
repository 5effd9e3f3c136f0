"""A local QuickBooks Online (real HTTP on 127.0.0.1) for the accounting tests and the benchmark: Intuit's OAuth 2.0
endpoints (discovery document, authorize, token, revoke) and the v3 Accounting API the sync uses, with the real
limits and the faults that matter. Point intuit-oauth at it with `environment=fake.discovery_url` (AuthClient takes a
discovery URL for any environment other than sandbox/production) and the API client at `fake.base_url`.

What it speaks (ACCOUNTING-FACTS.md):
- OAuth: `/.well-known/openid_configuration`, `GET /oauth2/v1/authorize` (consents at once: 302 to the redirect URI
  with code, state and realmId), `POST /oauth2/v1/tokens/bearer` (authorization_code, refresh_token; HTTP Basic
  client credentials; rotating refresh tokens), `POST /oauth2/v1/tokens/revoke`. `fail_refresh = True` makes every
  refresh answer 400 invalid_grant, as a revoked or expired refresh token does.
- `/v3/company/{realm}/{entity}` for Customer, Item, Invoice, CreditMemo, Payment, Account, TaxCode: create, read
  (`/{entity}/{id}`), sparse update (`"sparse": true`, SyncToken checked: a stale one is Fault 5010), Invoice void
  (`?operation=void`), Payment void (`?operation=update&include=void`), delete (`?operation=delete`);
  `companyinfo/{realm}`; `query?query=select * from X where F = 'v'` (and `select count(*)`, STARTPOSITION,
  MAXRESULTS); `batch` (at most 30 items); `cdc?entities=&changedSince=`. Every URL needs `minorversion` >= 75.
- `requestid`: the same id on a write replays the first response (the write happens once).
- Limits per realm: 10 requests/s, 500/min; batch 40/min; over them a 429. `inject(429|500|503, n)` fails the next
  n API calls; `fail_next_update_stale` makes the next update a 5010 (another user saved the object meanwhile).
- Currencies: a company's home currency (EUR) and multicurrency (on; `company().multicurrency = False` refuses
  others, Fault 6000); a transaction's currency must be its customer's.
- DocNumber is at most 21 characters (Fault 2050) and, as in QuickBooks by default, NOT unique: only looking a
  number up before creating keeps a retried push from making a second invoice.
- `make_payment(realm, invoice_id, amount)`: a payment "made in QuickBooks" (it moves the invoice's balance and
  shows in CDC); `send_webhook(url, [("Payment", id, "Create")], style=...)` posts a signed notification
  (`intuit-signature` = base64 HMAC-SHA256 of the raw body with the verifier token), legacy `eventNotifications` or
  the CloudEvents array. `notify(url)` posts one for every Payment and Customer change since the last one, whoever
  made it (QuickBooks notifies changes made through the API too: the echo of our own pushes).
- Payments: a Payment's linked invoices must exist and its lines may not apply more than its TotalAmt; creating one
  lowers each linked invoice's Balance, voiding or deleting it raises it again, editing it re-applies it.
  `lose_next_replies = n`: the next n writes happen but answer 500 (the answer lost on the way back).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

CLIENT_ID = "ABfakeclientid"
CLIENT_SECRET = "fake-client-secret"
VERIFIER_TOKEN = "fake-verifier-token"
REALM = "9341453000000001"
COMPANY = "Nordlicht Books Ltd"
ENTITIES = ("Customer", "Item", "Invoice", "CreditMemo", "Payment", "Account", "TaxCode")
BATCH_MAX = 30
CENT = Decimal("0.01")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dec(v: Any) -> Decimal:
    return Decimal(str(v)) if v is not None and v != "" else Decimal(0)


def _money(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


class _Fault(Exception):
    def __init__(self, status: int, code: str, message: str, detail: str = "", kind: str = "ValidationFault") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.kind = status, code, message, detail, kind

    def body(self) -> dict[str, Any]:
        return {"Fault": {"Error": [{"Message": self.message, "Detail": self.detail or self.message,
                                     "code": self.code}], "type": self.kind}, "time": _iso(_now())}


@dataclass
class Company:
    realm: str
    name: str
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    deleted: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    next_id: int = 1
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # requestid -> first reply
    calls: deque[float] = field(default_factory=deque)  # API call times, the last minute
    batch_calls: deque[float] = field(default_factory=deque)
    home_currency: str = "EUR"
    multicurrency: bool = True
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (entity, id, operation) for webhooks


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    request_id: str | None
    at: float


@dataclass
class FakeQuickBooks:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    verifier_token: str = VERIFIER_TOKEN
    per_second: int = 10
    per_minute: int = 500
    batch_per_minute: int = 40
    access_ttl: int = 3600
    companies: dict[str, Company] = field(default_factory=dict)
    consent_realm: str = REALM  # the company a person "picks" on the consent screen
    calls: list[Call] = field(default_factory=list)
    fail_refresh: bool = False
    fail_next_update_stale: int = 0
    injected: list[tuple[int, float | None]] = field(default_factory=list)  # (status, Retry-After) per next call
    lose_next_replies: int = 0  # the next n writes happen, but their answer is lost: a 500 comes back instead
    throttled: int = 0  # 429s answered (injected or by the limits)
    base_url: str = ""
    root: str = ""
    _codes: dict[str, str] = field(default_factory=dict)
    _access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (realm, expires at)
    _refresh: dict[str, str] = field(default_factory=dict)  # token -> realm
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

    # ---- set-up and inspection for tests ----------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.companies.clear()
            self.calls.clear()
            self.injected.clear()
            self._codes.clear()
            self._access.clear()
            self._refresh.clear()
            self.fail_refresh = False
            self.fail_next_update_stale = 0
            self.lose_next_replies = 0
            self.throttled = 0
            self.consent_realm = REALM
            self.add_company(REALM, COMPANY)

    def add_company(self, realm: str, name: str) -> Company:
        with self._lock:
            company = self.companies[realm] = Company(realm, name)
            self._put(company, "Account", {"Name": "Services", "AccountType": "Income", "Active": True})
            self._put(company, "TaxCode", {"Name": "TAX", "Active": True, "Taxable": True})
            self._put(company, "TaxCode", {"Name": "NON", "Active": True, "Taxable": False})
            return company

    def company(self, realm: str = REALM) -> Company:
        return self.companies[realm]

    def all(self, entity: str, realm: str = REALM) -> list[dict[str, Any]]:
        """Every live object of an entity, oldest first (copies)."""
        with self._lock:
            objs = self.companies[realm].objects[entity].values()
            return [copy.deepcopy(o) for o in sorted(objs, key=lambda o: int(o["Id"]))]

    def get(self, entity: str, obj_id: str, realm: str = REALM) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.companies[realm].objects[entity][str(obj_id)])

    def find(self, entity: str, realm: str = REALM, **where: Any) -> list[dict[str, Any]]:
        return [o for o in self.all(entity, realm) if all(o.get(k) == v for k, v in where.items())]

    def inject(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """The next `count` API calls answer `status` (429, 500, 503...), with Retry-After when given."""
        with self._lock:
            self.injected.extend([(status, retry_after)] * count)

    def pending_notifications(self, entities: tuple[str, ...] = ("Payment", "Customer"), realm: str = REALM,
                              clear: bool = True) -> list[tuple[str, str, str]]:
        """The (entity, id, operation) changes QuickBooks would notify by webhook since the last call, whoever made
        them (a person there or an app through the API: QuickBooks notifies both)."""
        with self._lock:
            company = self.companies[realm]
            out = [c for c in company.changes if c[0] in entities]
            if clear:
                company.changes = [c for c in company.changes if c[0] not in entities]
            return out

    def notify(self, url: str, entities: tuple[str, ...] = ("Payment", "Customer"), realm: str = REALM,
               style: str = "legacy") -> httpx.Response | None:
        """POST the webhook for every change since the last notification (None when nothing changed)."""
        changes = self.pending_notifications(entities, realm)
        return self.send_webhook(url, changes, realm, style) if changes else None

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {t: (r, 0.0) for t, (r, _) in self._access.items()}

    def api_calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.startswith("/v3/") and method in (None, c.method)
                    and contains in c.path + "?" + urlencode(c.query)]

    def make_payment(self, invoice_id: str, amount: Decimal | str, realm: str = REALM, ref: str = "",
                     txn_date: str | None = None) -> dict[str, Any]:
        """A payment made in QuickBooks (as a bookkeeper would record it there), applied to one invoice."""
        with self._lock:
            company = self.companies[realm]
            inv = company.objects["Invoice"][str(invoice_id)]
            amt = _money(_dec(amount))
            body = {"CustomerRef": dict(inv["CustomerRef"]), "TotalAmt": amt, "PaymentRefNum": ref,
                    "TxnDate": txn_date or _now().date().isoformat(), "CurrencyRef": inv.get("CurrencyRef"),
                    "Line": [{"Amount": amt, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]}
            return copy.deepcopy(self._create(company, "Payment", body))

    def webhook_body(self, changes: list[tuple[str, str, str]], realm: str = REALM, style: str = "legacy") -> bytes:
        """The body QuickBooks posts for these (entity, id, operation) changes: `legacy` eventNotifications or
        the `cloudevents` array (type `qbo.<entity>.<operation>.v1`)."""
        now = _iso(_now())
        if style == "legacy":
            entities = [{"name": e, "id": str(i), "operation": op, "lastUpdated": now} for e, i, op in changes]
            return json.dumps({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {
                "entities": entities}}]}).encode()
        past = {"create": "created", "update": "updated", "delete": "deleted", "void": "voided",
                "merge": "merged", "emailed": "emailed"}
        events = [{"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJd",
                   "type": f"qbo.{e.lower()}.{past.get(op.lower(), op.lower())}.v1",
                   "datacontenttype": "application/json", "time": now, "intuitentityid": str(i),
                   "intuitaccountid": realm, "data": {}} for e, i, op in changes]
        return json.dumps(events).encode()

    def sign(self, body: bytes, token: str | None = None) -> str:
        key = (token or self.verifier_token).encode()
        return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()

    def send_webhook(self, url: str, changes: list[tuple[str, str, str]], realm: str = REALM,
                     style: str = "legacy", token: str | None = None, timeout: float = 10.0) -> httpx.Response:
        """POST a signed webhook to `url`, as Intuit does (a wrong `token` makes a bad signature)."""
        body = self.webhook_body(changes, realm, style)
        ctype = "application/cloudevents-batch+json" if style == "cloudevents" else "application/json"
        return httpx.post(url, content=body, timeout=timeout,
                          headers={"intuit-signature": self.sign(body, token), "Content-Type": ctype})

    # ---- the store ----------------------------------------------------------------------------------------------

    def _put(self, company: Company, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["Id"] = str(company.next_id)
        company.next_id += 1
        obj["SyncToken"] = "0"
        now = _iso(_now())
        obj["MetaData"] = {"CreateTime": now, "LastUpdatedTime": now}
        obj["domain"] = "QBO"
        obj["sparse"] = False
        company.objects[entity][obj["Id"]] = obj
        return obj

    def _touch(self, obj: dict[str, Any]) -> None:
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        obj["MetaData"]["LastUpdatedTime"] = _iso(_now())

    def _ref(self, company: Company, entity: str, ref: Any, what: str) -> dict[str, Any]:
        rid = str((ref or {}).get("value", "")) if isinstance(ref, dict) else ""
        obj = company.objects[entity].get(rid)
        if obj is None and entity == "TaxCode":  # US companies take the pseudo-codes TAX and NON by name
            obj = next((o for o in company.objects[entity].values() if o.get("Name") == rid), None)
        if obj is None:
            raise _Fault(400, "2500", "Invalid Reference Id", f"Invalid Reference Id : {what} assigned is invalid")
        return obj

    def _currency(self, company: Company, obj: dict[str, Any]) -> str:
        cur = str((obj.get("CurrencyRef") or {}).get("value") or company.home_currency)
        if cur != company.home_currency and not company.multicurrency:
            raise _Fault(400, "6000", "A business validation error has occurred while processing your request",
                         f"Business Validation Error: {cur} is not the home currency and multicurrency is off")
        return cur

    def _txn_totals(self, company: Company, entity: str, obj: dict[str, Any]) -> None:
        customer = self._ref(company, "Customer", obj.get("CustomerRef"), "Customer")
        if self._currency(company, obj) != self._currency(company, customer):
            raise _Fault(400, "6000", "A business validation error has occurred while processing your request",
                         "Business Validation Error: the transaction's currency must be the customer's")
        doc = obj.get("DocNumber")
        if doc is not None and len(str(doc)) > 21:
            raise _Fault(400, "2050", "String length is either shorter or longer than supported by specification",
                         "String length specified does not match the supported length. Min:0 Max:21 "
                         "supported. Supplied length:" + str(len(str(doc))))
        subtotal = Decimal(0)
        for line in obj.get("Line") or []:
            amount = _dec(line.get("Amount"))
            detail = line.get("SalesItemLineDetail")
            if line.get("DetailType") == "SalesItemLineDetail" or detail:
                detail = detail or {}
                self._ref(company, "Item", detail.get("ItemRef"), "Item")
                if detail.get("TaxCodeRef"):
                    self._ref(company, "TaxCode", detail["TaxCodeRef"], "TaxCode")
                if ("Qty" in detail and "UnitPrice" in detail
                        and _money(_dec(detail["Qty"]) * _dec(detail["UnitPrice"])) != _money(amount)):
                    raise _Fault(400, "6070", "Amount is not equal to UnitPrice * Qty",
                                 f"Amount {amount} is not equal to UnitPrice * Qty")
                subtotal += amount
        tax = _dec((obj.get("TxnTaxDetail") or {}).get("TotalTax"))
        obj["TotalAmt"] = _money(subtotal + tax)
        if entity == "Invoice":
            paid = sum((_dec(ln.get("Amount")) for p in company.objects["Payment"].values() for ln in p["Line"]
                        if any(t.get("TxnId") == obj.get("Id") for t in ln.get("LinkedTxn") or [])), Decimal(0))
            obj["Balance"] = _money(obj["TotalAmt"] - paid)
        elif entity == "CreditMemo":
            obj["Balance"] = obj["TotalAmt"]

    def _apply_payment(self, company: Company, pay: dict[str, Any], sign: int) -> None:
        for line in pay.get("Line") or []:
            for t in line.get("LinkedTxn") or []:
                if t.get("TxnType") == "Invoice":
                    inv = self._ref(company, "Invoice", {"value": t.get("TxnId")}, "Invoice")
                    inv["Balance"] = _money(_dec(inv["Balance"]) - sign * _dec(line.get("Amount")))
                    self._touch(inv)

    def _create(self, company: Company, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        if entity == "Customer":
            name = str(body.get("DisplayName") or "").strip()
            if not name:
                raise _Fault(400, "2020", "Required param missing, need to supply the required value for the API",
                             "Required parameter DisplayName is missing in the request")
            if any(o.get("DisplayName") == name for o in company.objects["Customer"].values()):
                raise _Fault(400, "6240", "Duplicate Name Exists Error",
                             f"The name supplied already exists. : {name}")
        if entity == "Item" and any(o.get("Name") == body.get("Name") for o in company.objects["Item"].values()):
            raise _Fault(400, "6240", "Duplicate Name Exists Error", "The name supplied already exists.")
        obj = copy.deepcopy(body)
        if entity == "Customer":
            self._currency(company, obj)
        if entity in ("Invoice", "CreditMemo"):
            obj.setdefault("TxnDate", _now().date().isoformat())
            self._txn_totals(company, entity, obj)
        if entity == "Payment":
            self._check_payment(company, obj)
        created = self._put(company, entity, obj)
        if entity == "Payment":
            self._apply_payment(company, created, 1)
        company.changes.append((entity, created["Id"], "Create"))
        return created

    def _check_payment(self, company: Company, obj: dict[str, Any]) -> None:
        """A Payment's customer and linked invoices exist, and its lines do not apply more than it is worth."""
        self._ref(company, "Customer", obj.get("CustomerRef"), "Customer")
        obj["TotalAmt"] = _money(_dec(obj.get("TotalAmt")))
        applied = Decimal(0)
        for line in obj.get("Line") or []:
            for t in line.get("LinkedTxn") or []:
                if t.get("TxnType") == "Invoice":
                    self._ref(company, "Invoice", {"value": t.get("TxnId")}, "Invoice")
            applied += _dec(line.get("Amount"))
        if applied > obj["TotalAmt"]:
            raise _Fault(400, "6000", "A business validation error has occurred while processing your request",
                         "Business Validation Error: the amounts applied are more than the payment's total")

    def _update(self, company: Company, entity: str, body: dict[str, Any], op: str, include: str) -> dict[str, Any]:
        obj = company.objects[entity].get(str(body.get("Id")))
        if obj is None:
            raise _Fault(400, "610", "Object Not Found", "Object Not Found : Something you're trying to use has "
                         "been made inactive. Check the fields with accounts, customers, items, vendors or "
                         "employees.", "ValidationFault")
        if self.fail_next_update_stale:
            self.fail_next_update_stale -= 1
            self._touch(obj)  # someone saved it in QuickBooks meanwhile
        if str(body.get("SyncToken")) != obj["SyncToken"]:
            raise _Fault(400, "5010", "Stale Object Error",
                         "Stale Object Error : You and root were working on this at the same time. root finished "
                         "before you did, so your work was not saved.")
        if op == "void" and entity == "Invoice":
            for line in obj.get("Line") or []:
                line["Amount"] = Decimal(0)
            obj["TotalAmt"], obj["Balance"] = Decimal(0), Decimal(0)
            obj["PrivateNote"] = _voided_note(obj)
            self._touch(obj)
            return obj
        if op == "update" and include == "void" and entity == "Payment":
            self._apply_payment(company, obj, -1)
            obj["TotalAmt"] = Decimal(0)
            for line in obj.get("Line") or []:
                line["Amount"] = Decimal(0)
            obj["PrivateNote"] = _voided_note(obj)
            self._touch(obj)
            company.changes.append((entity, obj["Id"], "Void"))
            return obj
        if op == "delete":
            if entity == "Payment":  # the invoices it paid are open again
                self._apply_payment(company, obj, -1)
            del company.objects[entity][obj["Id"]]
            company.deleted[entity][obj["Id"]] = obj
            self._touch(obj)
            obj["status"] = "Deleted"
            company.changes.append((entity, obj["Id"], "Delete"))
            return obj
        if entity == "Payment":  # an edited payment: what it paid is taken back, then what it pays now applied
            merged = copy.deepcopy(obj) if body.get("sparse") else {k: obj[k] for k in ("Id", "MetaData", "domain")}
            merged.update({k: copy.deepcopy(v) for k, v in body.items() if k not in ("Id", "SyncToken", "sparse")})
            self._check_payment(company, merged)  # refused before anything moves
            self._apply_payment(company, obj, -1)
        if not body.get("sparse"):
            keep = {k: obj[k] for k in ("Id", "MetaData", "domain")}
            obj.clear()
            obj.update(keep)
        for k, v in body.items():
            if k not in ("Id", "SyncToken", "sparse", "MetaData"):
                obj[k] = copy.deepcopy(v)
        obj["sparse"] = False
        if entity in ("Invoice", "CreditMemo"):
            self._txn_totals(company, entity, obj)
        if entity == "Payment":
            self._check_payment(company, obj)
            self._apply_payment(company, obj, 1)
        obj["SyncToken"] = str(int(body["SyncToken"]))
        self._touch(obj)
        company.changes.append((entity, obj["Id"], "Update"))
        return obj

    # ---- queries ----------------------------------------------------------------------------------------------

    _QUERY = re.compile(r"^\s*select\s+(?P<what>\*|count\(\*\))\s+from\s+(?P<entity>\w+)"
                        r"(?:\s+where\s+(?P<where>.+?))?(?:\s+orderby\s+\S+(?:\s+(?:asc|desc))?)?"
                        r"(?:\s+startposition\s+(?P<start>\d+))?(?:\s+maxresults\s+(?P<max>\d+))?\s*$", re.I)
    _COND = re.compile(r"^\s*(\w+)\s*(=|in|like|>=|<=|>|<)\s*(.+?)\s*$", re.I)

    def _query(self, company: Company, text: str) -> dict[str, Any]:
        m = self._QUERY.match(text)
        if m is None:
            raise _Fault(400, "4000", "Error parsing query", f"QueryParserError: Encountered an error: {text}")
        entity = next((e for e in ENTITIES if e.lower() == m["entity"].lower()), None)
        if entity is None:
            raise _Fault(400, "4001", "Invalid query", f"QueryValidationError: Entity {m['entity']} not found")
        rows = sorted(company.objects[entity].values(), key=lambda o: int(o["Id"]))
        # conditions are joined by AND outside quotes ('Time and materials' is one value)
        where = re.split(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", m["where"], flags=re.I) if m["where"] else []
        for cond in where:
            c = self._COND.match(cond)
            if c is None:
                raise _Fault(400, "4000", "Error parsing query", f"QueryParserError: {cond}")
            fname, op, raw = c[1], c[2].lower(), c[3]
            if op == "in":
                values = [v.strip().strip("'").replace("\\'", "'") for v in raw.strip("() ").split(",")]
                rows = [o for o in rows if str(self._field(o, fname)) in values]
            elif op == "=":
                v = raw.strip().strip("'").replace("\\'", "'")
                rows = [o for o in rows if str(self._field(o, fname)) == v]
            elif op == "like":
                pat = re.escape(raw.strip().strip("'")).replace("%", ".*")
                rows = [o for o in rows if re.fullmatch(pat, str(self._field(o, fname)))]
            else:
                v = raw.strip().strip("'")
                import operator

                cmp = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}[op]
                rows = [o for o in rows if cmp(str(self._field(o, fname)), v)]
        if m["what"] != "*":
            return {"QueryResponse": {"totalCount": len(rows)}, "time": _iso(_now())}
        start = int(m["start"] or 1)
        limit = min(int(m["max"] or 100), 1000)
        page = rows[start - 1:start - 1 + limit]
        if not page:
            return {"QueryResponse": {}, "time": _iso(_now())}
        return {"QueryResponse": {entity: copy.deepcopy(page), "startPosition": start, "maxResults": len(page)},
                "time": _iso(_now())}

    @staticmethod
    def _field(obj: dict[str, Any], name: str) -> Any:
        if name == "MetaData.LastUpdatedTime":
            return obj["MetaData"]["LastUpdatedTime"]
        v = obj.get(name)
        if isinstance(v, dict) and "value" in v:
            return v["value"]
        return v if v is not None else ""

    def _cdc(self, company: Company, entities: str, since: str) -> dict[str, Any]:
        try:
            t = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise _Fault(400, "2030", "Invalid ID", f"changedSince {since!r} is not a date-time") from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        if _now() - t > timedelta(days=30):
            raise _Fault(400, "4001", "Invalid query", "changedSince may not be more than 30 days in the past")
        out = []
        for name in [e.strip() for e in entities.split(",") if e.strip()]:
            entity = next((e for e in ENTITIES if e.lower() == name.lower()), None)
            if entity is None:
                raise _Fault(400, "4001", "Invalid query", f"entity {name} is not supported by CDC")
            changed = [copy.deepcopy(o) for o in company.objects[entity].values()
                       if datetime.fromisoformat(o["MetaData"]["LastUpdatedTime"].replace("Z", "+00:00")) >= t]
            changed += [{"Id": o["Id"], "status": "Deleted", "MetaData": copy.deepcopy(o["MetaData"])}
                        for o in company.deleted[entity].values()
                        if datetime.fromisoformat(o["MetaData"]["LastUpdatedTime"].replace("Z", "+00:00")) >= t]
            changed.sort(key=lambda o: o["MetaData"]["LastUpdatedTime"])
            out.append({entity: changed[:1000], "startPosition": 1, "maxResults": min(len(changed), 1000)}
                       if changed else {})
        return {"CDCResponse": [{"QueryResponse": out}], "time": _iso(_now())}

    # ---- requests -----------------------------------------------------------------------------------------------

    def _throttle(self, company: Company, batch: bool) -> bool:
        """Record the call; True when it is over a limit (answered 429, as QuickBooks does)."""
        t = time.monotonic()
        while company.calls and company.calls[0] < t - 60:
            company.calls.popleft()
        while company.batch_calls and company.batch_calls[0] < t - 60:
            company.batch_calls.popleft()
        last_second = sum(1 for c in company.calls if c > t - 1)
        if last_second >= self.per_second or len(company.calls) >= self.per_minute:
            return True
        if batch and len(company.batch_calls) >= self.batch_per_minute:
            return True
        company.calls.append(t)
        if batch:
            company.batch_calls.append(t)
        return False

    def _api(self, method: str, path: str, query: dict[str, str], body: Any,
             headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        m = re.match(r"^/v3/company/(?P<realm>[^/]+)/(?P<rest>.+)$", path)
        if m is None:
            return 404, {"error": "not found"}, {}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        realm, rest = m["realm"], m["rest"]
        with self._lock:
            owner = self._access.get(token)
            if owner is None or owner[0] != realm or owner[1] < time.time():
                return 401, {"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; "
                                                  "statusCode=401", "detail": "Token expired or invalid",
                                                  "code": "3200"}], "type": "AUTHENTICATION"}}, {}
            company = self.companies.get(realm)
            if company is None:
                return 403, _Fault(403, "3100", "ApplicationAuthorizationFailed").body(), {}
            if self.injected:
                status, retry_after = self.injected.pop(0)
                if status == 429:
                    self.throttled += 1
                hdr = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                msg = "ThrottleExceeded" if status == 429 else "Internal Server Error"
                return status, _Fault(status, "3001" if status == 429 else "10000", msg).body(), hdr
            if self._throttle(company, rest == "batch"):
                self.throttled += 1
                return 429, _Fault(429, "3001", "ThrottleExceeded",
                                   "The request exceeded the maximum number of requests allowed").body(), {}
            try:
                mv = int(query.get("minorversion") or 0)
            except ValueError:
                mv = 0
            if mv < 75:
                return 400, _Fault(400, "2010", "Request has invalid or unsupported property",
                                   "Minor versions 1-74 are no longer supported: use 75 or later").body(), {}
            rid = query.get("requestid")
            if rid and method == "POST" and rest not in ("query",):
                if len(rid) > (36 if rest == "batch" else 50):
                    return 400, _Fault(400, "2010", "Request has invalid or unsupported property",
                                       "requestid is too long").body(), {}
                if rid in company.replies:
                    status, reply = company.replies[rid]
                    return status, copy.deepcopy(reply), {}
            try:
                status, reply = 200, self._dispatch(company, method, rest, query, body)
            except _Fault as f:
                status, reply = f.status, f.body()
            if rid and method == "POST" and rest != "query":
                company.replies[rid] = (status, copy.deepcopy(reply))
            if self.lose_next_replies and method == "POST" and rest != "query" and status == 200:
                self.lose_next_replies -= 1  # written; the answer never reaches the caller
                return 500, _Fault(500, "10000", "Internal Server Error").body(), {}
            return status, reply, {}

    def _dispatch(self, company: Company, method: str, rest: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        parts = rest.split("/")
        now = _iso(_now())
        if parts[0] == "query":
            text = query.get("query") or (body if isinstance(body, str) else "")
            return self._query(company, text)
        if parts[0] == "cdc":
            return self._cdc(company, query.get("entities", ""), query.get("changedSince", ""))
        if parts[0] == "companyinfo":
            return {"CompanyInfo": {"Id": company.realm, "CompanyName": company.name, "LegalName": company.name,
                                    "Country": "GB", "SyncToken": "0"}, "time": now}
        if parts[0] == "batch":
            items = (body or {}).get("BatchItemRequest") or []
            if len(items) > BATCH_MAX:
                raise _Fault(400, "1040", "Batch size exceeded",
                             f"Batch requests may have at most {BATCH_MAX} items; got {len(items)}")
            out = []
            for item in items:
                bid = str(item.get("bId"))
                try:
                    if "Query" in item:
                        res = self._query(company, item["Query"])
                        out.append({"bId": bid, "QueryResponse": res["QueryResponse"]})
                        continue
                    entity = next(k for k in item if k in ENTITIES)
                    op = item.get("operation", "create")
                    if op == "create":
                        obj = self._create(company, entity, item[entity])
                    else:
                        obj = self._update(company, entity, item[entity], op, "")
                    out.append({"bId": bid, entity: copy.deepcopy(obj)})
                except _Fault as f:
                    out.append({"bId": bid, "Fault": f.body()["Fault"]})
                except StopIteration:
                    out.append({"bId": bid, "Fault": _Fault(400, "2010", "Unknown entity").body()["Fault"]})
            return {"BatchItemResponse": out, "time": now}
        entity = next((e for e in ENTITIES if e.lower() == parts[0].lower()), None)
        if entity is None:
            raise _Fault(400, "4001", "Unsupported entity", f"Unsupported entity {parts[0]}")
        if method == "GET":
            if len(parts) < 2 or parts[1] not in company.objects[entity]:
                raise _Fault(400, "610", "Object Not Found", f"Object Not Found : {entity} {parts[1:]}")
            return {entity: copy.deepcopy(company.objects[entity][parts[1]]), "time": now}
        if not isinstance(body, dict):
            raise _Fault(400, "2010", "Request has invalid or unsupported property", "a JSON object was expected")
        op = query.get("operation", "")
        if op or body.get("Id"):
            obj = self._update(company, entity, body, op or "update", query.get("include", ""))
        else:
            obj = self._create(company, entity, body)
        return {entity: copy.deepcopy(obj), "time": now}

    # ---- OAuth ---------------------------------------------------------------------------------------------------

    def _discovery(self) -> dict[str, Any]:
        return {"issuer": "https://oauth.platform.intuit.com/op/v1",
                "authorization_endpoint": self.root + "/oauth2/v1/authorize",
                "token_endpoint": self.root + "/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": self.root + "/v1/openid_connect/userinfo",
                "revocation_endpoint": self.root + "/oauth2/v1/tokens/revoke",
                "jwks_uri": self.root + "/oauth2/v1/keys"}

    def _issue_tokens(self, realm: str) -> dict[str, Any]:
        access, refresh = "eyJ" + secrets.token_urlsafe(24), "AB" + secrets.token_urlsafe(24)
        self._access[access] = (realm, time.time() + self.access_ttl)
        self._refresh[refresh] = realm
        return {"token_type": "bearer", "access_token": access, "refresh_token": refresh,
                "expires_in": self.access_ttl, "x_refresh_token_expires_in": 8726400}

    def _token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != expected:
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = form.get("grant_type")
            if grant == "authorization_code":
                realm = self._codes.pop(form.get("code", ""), None)
                if realm is None:
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue_tokens(realm)
            if grant == "refresh_token":
                realm = self._refresh.get(form.get("refresh_token", ""))
                if self.fail_refresh or realm is None:
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue_tokens(realm)
        return 400, {"error": "unsupported_grant_type"}

    def _revoke(self, headers: dict[str, str], body: Any) -> int:
        token = (body or {}).get("token", "") if isinstance(body, dict) else ""
        with self._lock:
            realm = self._refresh.pop(token, None) or (self._access.pop(token, ("", 0))[0] or None)
            if realm:  # revoking either token ends the whole grant
                self._access = {t: v for t, v in self._access.items() if v[0] != realm}
                self._refresh = {t: r for t, r in self._refresh.items() if r != realm}
        return 200

    def authorize(self, query: dict[str, str]) -> str:
        """Where the consent screen sends the browser: the redirect URI with code, state and realmId."""
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            raise _Fault(400, "invalid_request", "unknown client or no redirect_uri")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = self.consent_realm
        sep = "&" if "?" in query["redirect_uri"] else "?"
        return query["redirect_uri"] + sep + urlencode(
            {"code": code, "state": query.get("state", ""), "realmId": self.consent_realm})

    # ---- serving ------------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeQuickBooks:
        fake = self
        if not self.companies:
            self.reset()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body, default=_json_default).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("intuit_tid", uuid.uuid4().hex)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _serve(self) -> None:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                ctype = headers.get("content-type", "")
                body: Any = None
                if raw and "json" in ctype:
                    try:
                        body = json.loads(raw, parse_float=Decimal)
                    except ValueError:
                        self._reply(400, _Fault(400, "2010", "Request has invalid or unsupported property",
                                                "malformed JSON").body())
                        return
                elif raw and "x-www-form-urlencoded" in ctype:
                    body = dict(parse_qsl(raw.decode()))
                elif raw:
                    body = raw.decode()
                path = url.path
                status: int
                hdr: dict[str, str]
                if path.startswith("/.well-known/openid"):
                    status, reply, hdr = 200, fake._discovery(), {}
                elif path == "/oauth2/v1/authorize":
                    try:
                        location = fake.authorize(query)
                    except _Fault as f:
                        self._reply(400, {"error": f.code, "error_description": f.message})
                        return
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    fake._log(self.command, path, query, None, 302)
                    return
                elif path == "/oauth2/v1/tokens/bearer":
                    status, reply = fake._token(headers, body if isinstance(body, dict) else {})
                    hdr = {}
                elif path == "/oauth2/v1/tokens/revoke":
                    status, reply, hdr = fake._revoke(headers, body), None, {}
                elif path.startswith("/v3/"):
                    status, reply, hdr = fake._api(self.command, path, query, body, headers)
                else:
                    status, reply, hdr = 404, {"error": "not found"}, {}
                fake._log(self.command, path, query, body, status)
                self._reply(status, reply, hdr)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-quickbooks", daemon=True).start()
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = self.root
        return self

    @property
    def discovery_url(self) -> str:
        """What to give intuit-oauth as its environment (and BILLABLE_QUICKBOOKS_ENVIRONMENT)."""
        return self.root + "/.well-known/openid_configuration/"

    def _log(self, method: str, path: str, query: dict[str, str], body: Any, status: int) -> None:
        with self._lock:
            self.calls.append(Call(method, path, query, body, status, query.get("requestid"), time.monotonic()))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        # QuickBooks writes amounts as JSON numbers; a 2-decimal amount's shortest float repr is its own digits.
        return float(v)
    raise TypeError(type(v))


def main() -> None:
    """`python -m tests.fakes.quickbooks [--port 8765]`: a local QuickBooks for the demo, with the settings to use."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8765)
    fake = FakeQuickBooks().start(parser.parse_args().port)
    print(f"A local QuickBooks Online ({COMPANY}, realm {REALM}) at {fake.root}; consent is automatic. Use:\n"
          f"export BILLABLE_QUICKBOOKS_CLIENT_ID={CLIENT_ID} BILLABLE_QUICKBOOKS_CLIENT_SECRET={CLIENT_SECRET}\n"
          f"export BILLABLE_QUICKBOOKS_ENVIRONMENT={fake.discovery_url} BILLABLE_QUICKBOOKS_API_URL={fake.base_url}\n"
          f"export BILLABLE_QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN={VERIFIER_TOKEN}\n"
          "export BILLABLE_ACCOUNTING_TOKEN_KEY=$(python -c 'from cryptography.fernet import Fernet; "
          "print(Fernet.generate_key().decode())')", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()


def _voided_note(obj: dict[str, Any]) -> str:
    """What QuickBooks makes of a voided transaction's PrivateNote: "Voided" put before the text it had."""
    note = str(obj.get("PrivateNote") or "")
    return f"Voided - {note}" if note else "Voided"
