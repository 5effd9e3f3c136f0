"""Exports for the accountant: a month of invoices and credit notes as DATEV's Buchungsstapel.

Every issued invoice is booked in its issue month: the gross of each tax group on the client's debtor account
(debit) against the revenue account for that group. Credit notes are booked the other way round, and a voided
invoice is reversed on the day it was voided, so the export of any month balances against what was issued,
credited and voided in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import ValidationFailed
from domain.model import datev
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services._input import refusal
from domain.services.snapshots import frozen_snapshot
from domain.store.tables import ClientRow, InvoiceRow
from domain.store.uow import UnitOfWork

BOOKED = ("issued", "sent", "viewed", "partially_paid", "paid", "uncollectible", "void")


class DatevSettings(BaseModel):
    """The workspace's DATEV numbers and account map (ask the tax adviser for them)."""

    model_config = ConfigDict(extra="forbid")
    consultant_number: int = Field(1001, ge=1001, le=9999999, description="Beraternummer (1001-9999999)")
    client_number: int = Field(1, ge=1, le=99999, description="Mandantennummer (1-99999)")
    chart: datev.Chart = datev.Chart.SKR03
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    account_length: int = Field(4, ge=4, le=8, description="Sachkontenlänge: digits of a ledger account")
    revenue_accounts: dict[str, int] = Field(default_factory=dict,
                                             description="Overrides of the chart's revenue accounts by kind, e.g. "
                                                         "{\"standard_19\": 8400, \"standard_20\": 8338}")
    debtor_start: int = Field(datev.DEFAULT_DEBTOR_START, ge=1,
                              description="A client's debtor account is this plus its id unless mapped")
    debtor_accounts: dict[str, int] = Field(default_factory=dict, description="Client id -> debtor account")

    @field_validator("revenue_accounts")
    @classmethod
    def _kinds(cls, v: dict[str, int]) -> dict[str, int]:
        for kind in v:
            if kind not in {r.value for r in datev.Revenue} and not _is_rate_kind(kind):
                raise ValueError(f"{kind!r} is not a revenue kind: use one of "
                                 f"{', '.join(r.value for r in datev.Revenue)} or standard_<rate>")
        return v

    def revenue_account(self, kind: str) -> int | None:
        return self.revenue_accounts.get(kind, datev.DEFAULT_REVENUE_ACCOUNTS[self.chart].get(kind))

    def debtor_account(self, client_id: int) -> int:
        return self.debtor_accounts.get(str(client_id), self.debtor_start + client_id)


def _is_rate_kind(kind: str) -> bool:
    if not kind.startswith("standard_"):
        return False
    try:
        rate = Decimal(kind.removeprefix("standard_"))
    except InvalidOperation:
        return False
    return rate.is_finite() and 0 < rate <= 100


def _check_lengths(s: DatevSettings) -> None:
    for kind, account in s.revenue_accounts.items():
        if len(str(account)) != s.account_length:
            raise ValidationFailed(f"a ledger account has {s.account_length} digits (account_length); "
                                   f"{account} has {len(str(account))}", field=f"revenue_accounts.{kind}")
    for client, account in s.debtor_accounts.items():
        if len(str(account)) != s.account_length + 1:
            raise ValidationFailed(f"a debtor account has {s.account_length + 1} digits (one more than "
                                   f"account_length)", field=f"debtor_accounts.{client}")
    if len(str(s.debtor_start + 1)) != s.account_length + 1:
        raise ValidationFailed(f"debtor accounts have {s.account_length + 1} digits: start them at "
                               f"{10 ** s.account_length}", field="debtor_start")
    if s.chart != datev.Chart.SKR03 or s.account_length != 4:
        # the chart's defaults are 4-digit accounts: other lengths or charts need each kind mapped explicitly
        for kind, account in datev.DEFAULT_REVENUE_ACCOUNTS[s.chart].items():
            if kind not in s.revenue_accounts and len(str(account)) != s.account_length:
                raise ValidationFailed(f"with {s.account_length}-digit accounts, map {kind} yourself",
                                       field=f"revenue_accounts.{kind}")


def get_datev_settings(uow: UnitOfWork, actor: Actor) -> DatevSettings:
    """The DATEV settings (defaults until someone sets them)."""
    require(actor, Perm.EXPORT_BOOKS)
    with uow:
        return DatevSettings.model_validate(uow.workspace.get().datev or {})


def update_datev_settings(uow: UnitOfWork, actor: Actor, changes: Mapping[str, Any]) -> DatevSettings:
    """Change the DATEV settings; validated as a whole and audited."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        ws = uow.workspace.get()
        before = DatevSettings.model_validate(ws.datev or {})
        try:
            after = DatevSettings.model_validate({**before.model_dump(mode="json"), **dict(changes)})
        except ValidationError as e:
            raise refusal(e) from None
        _check_lengths(after)
        ws.datev = after.model_dump(mode="json")
        uow.audit.record(actor, "workspace.datev_updated", "workspace", 1, before=before.model_dump(mode="json"),
                         after=ws.datev)
        uow.commit()
        return after


@dataclass
class DatevExport:
    """The file and what is in it, so a person can check it before sending it on."""

    filename: str
    content: bytes
    month: str
    bookings: int
    documents: int
    # debtor account -> net debit (invoices minus credit notes and voids) in each currency
    totals: dict[str, dict[str, str]] = field(default_factory=dict)


def parse_month(month: str) -> tuple[date, date]:
    """'2026-03' -> (2026-03-01, 2026-03-31), or a refusal naming the field."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except (ValueError, TypeError):
        raise ValidationFailed(f"{month!r} is not a month: write it as YYYY-MM, e.g. 2026-03",
                               field="month") from None
    if not 1900 <= year <= 2999 or len(month) != 7:
        raise ValidationFailed("write the month as YYYY-MM, years 1900-2999", field="month")
    nxt = date(year + mon // 12, mon % 12 + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)


def parse_rates(rates: Mapping[str, object]) -> dict[str, Decimal]:
    """Exchange rates as foreign units per 1 EUR ({'GBP': '0.8612'}), each positive."""
    out: dict[str, Decimal] = {}
    for cur, value in rates.items():
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            d = Decimal(0)
        if isinstance(value, float) or not d.is_finite() or d <= 0 or d > 1_000_000:
            raise ValidationFailed(f"give the {cur} rate as units of {cur} per 1 EUR, e.g. 0.8612",
                                   field=f"rates.{cur}")
        out[cur.upper()] = d
    return out


def _party(inv: InvoiceRow) -> tuple[str, str, str, str]:
    """(name, tax mode, country, VAT ID) of the buyer as the invoice said it: its frozen snapshot, never the
    client as it is today (an invoice without one is refused: `billable invoices backfill-snapshots`)."""
    snap = frozen_snapshot(inv)
    buyer = snap.buyer.details()
    profile = snap.terms.tax_profile or {}
    country = buyer.address.country or str(profile.get("region") or "")
    vat_id = buyer.vat_id or str(profile.get("tax_id") or "")
    return snap.buyer.name, snap.terms.tax_mode.value, country[:2], vat_id


def export_datev(uow: UnitOfWork, actor: Actor, month: str, rates: Mapping[str, object] | None = None,
                 ) -> DatevExport:
    """The month's invoices, credit notes and voids as an EXTF Buchungsstapel for the tax adviser."""
    require(actor, Perm.EXPORT_BOOKS)
    first, last = parse_month(month)
    fx = parse_rates(rates or {})
    with uow:
        settings = DatevSettings.model_validate(uow.workspace.get().datev or {})
        issued = uow.invoices.issued_between(first, last, BOOKED)
        voids = uow.audit_log.first_at("invoice.voided", "invoice",
                                   datetime.combine(first, time.min, UTC), datetime.combine(last, time.max, UTC))
        voided = {inv.id: inv for inv in uow.invoices.get_many([int(i) for i in voids])}
        clients = {c.id: c for c in uow.clients.get_many(
            sorted({i.client_id for i in issued} | {i.client_id for i in voided.values()}))}
        missing_rates = sorted({i.currency for i in [*issued, *voided.values()] if i.currency != "EUR"} - set(fx))
        if missing_rates:
            raise ValidationFailed(
                f"{month} has documents in {', '.join(missing_rates)}: give the month's rate for each as units per "
                f"1 EUR (CLI: --rate {missing_rates[0]}=0.8612; HTTP: rates={missing_rates[0]}:0.8612)",
                field="rates")
        bookings: list[datev.Booking] = []
        totals: dict[str, dict[str, Decimal]] = {}
        for inv in issued:
            debit = inv.kind == "invoice"
            assert inv.issue_date is not None
            bookings += _book(settings, inv, clients[inv.client_id], debit, inv.issue_date, fx, totals)
        for inv_id, at in voids.items():
            inv = voided[int(inv_id)]
            if inv.issue_date is None:
                continue
            bookings += _book(settings, inv, clients[inv.client_id], False, at.date(), fx, totals, void=True)
        header = datev.Header(
            consultant_number=settings.consultant_number, client_number=settings.client_number,
            fiscal_year_start=_fiscal_year_start(first, settings.fiscal_year_start_month),
            account_length=settings.account_length, period_from=first, period_to=last,
            label=f"billable {month}", chart=settings.chart, created_at=uow.clock.now())
        content = datev.encode(datev.render(header, bookings))
    return DatevExport(filename=f"EXTF_Buchungsstapel_{month}.csv", content=content, month=month,
                       bookings=len(bookings), documents=len(issued) + len(voids),
                       totals={acc: {cur: format(v, "f") for cur, v in by_cur.items()} for acc, by_cur in
                               totals.items()})


def _fiscal_year_start(first: date, start_month: int) -> date:
    year = first.year if first.month >= start_month else first.year - 1
    return date(year, start_month, 1)


def _book(s: DatevSettings, inv: InvoiceRow, client: ClientRow, debit: bool, on: date, fx: dict[str, Decimal],
          totals: dict[str, dict[str, Decimal]], void: bool = False) -> list[datev.Booking]:
    """One booking per tax group of a document; `debit` is the debtor's side (invoices debit, credits credit)."""
    name, mode, country, vat_id = _party(inv)
    debtor = s.debtor_account(client.id)
    out = []
    for group in inv.tax_breakdown:
        rate = Decimal(group["rate"])
        gross = Decimal(group["taxable"]) + Decimal(group["tax"])
        if gross == 0:
            continue
        side = debit if gross > 0 else not debit
        kind = datev.revenue_kind(mode, rate, country)
        account = s.revenue_account(kind)
        if account is None:
            raise ValidationFailed(f"{inv.number} has {rate}% VAT, which has no revenue account in "
                                   f"{s.chart.value}: map {kind} in the DATEV settings (revenue_accounts)",
                                   field=f"revenue_accounts.{kind}")
        amount = abs(gross)
        base = None
        if inv.currency != "EUR":
            base = (amount / fx[inv.currency]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        label = ("Storno " if void else "Gutschrift " if inv.kind == "credit_note" else "") + name
        out.append(datev.Booking(
            amount=amount, debit=side, account=debtor, contra_account=account, doc_date=on,
            doc_number=inv.number or "", text=label, currency=inv.currency,
            rate=fx.get(inv.currency), base_amount=base,
            eu_vat_id=vat_id if kind == datev.Revenue.REVERSE_CHARGE_EU else "",
            service_date=inv.period_end, tax_rate=rate, due_date=inv.due_date if debit and not void else None))
        by_cur = totals.setdefault(str(debtor), {})
        by_cur[inv.currency] = by_cur.get(inv.currency, Decimal(0)) + (amount if side else -amount)
    return out
