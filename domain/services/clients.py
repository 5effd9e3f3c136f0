"""Clients and their arrangements (contracts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.errors import BadTransition, NotFound, ValidationFailed
from domain.model.arrangements import MilestoneTerms, Terms, money_fields
from domain.model.bounds import Id
from domain.model.money import check_currency, minor_exponent, parse_decimal, round_money
from domain.model.parties import Buyer, DocumentLanguage, EInvoiceFormat, ElectronicAddress, PostalAddress, VatId
from domain.model.roles import Actor, Perm
from domain.model.tax import TaxMode, TaxProfile
from domain.services import accounting
from domain.services._auth import client_scope, load_client, require
from domain.services._input import parse_input, refusal
from domain.services.contracts import first_version
from domain.services.parties import AddressPatch, ElectronicAddressPatch, buyer_of, merge, write_buyer
from domain.services.views import ArrangementView, ClientView, MilestoneView
from domain.store.tables import ArrangementRow, ClientRow, MilestoneRow
from domain.store.uow import UnitOfWork

_BUYER_FIELDS = ("address", "vat_id", "buyer_reference", "electronic_address", "einvoice_format", "language")


def _lift_tax_id(data: Any) -> Any:
    """Before issue 12 the client's VAT ID was `tax_profile.tax_id`; a caller that still sends it there gets it
    stored as the client's `vat_id` (the one place it lives now)."""
    if isinstance(data, Mapping) and isinstance(data.get("tax_profile"), Mapping) \
            and "tax_id" in data["tax_profile"]:
        profile = dict(data["tax_profile"])
        tax_id = profile.pop("tax_id")
        data = {**data, "tax_profile": profile}
        if tax_id and not data.get("vat_id"):
            data["vat_id"] = tax_id
    return data


def _needs_vat_id(profile: TaxProfile | None, vat_id: str | None) -> None:
    if profile is not None and profile.mode == TaxMode.REVERSE_CHARGE and not vat_id:
        raise ValueError("vat_id (the client's VAT ID) is required for reverse charge")


class ClientIn(BaseModel):
    """A new client, as the API and every other door accept it. Its buyer details (address, VAT ID, buyer
    reference, e-invoice address and format, language) are what its invoices say about it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    currency: str
    billing_emails: list[EmailStr] = Field(default_factory=list)
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    tax_profile: TaxProfile = Field(default_factory=TaxProfile)
    po_required: bool = False
    po_number: str = Field(default="", max_length=100)
    locale: str = Field(default="en_GB", max_length=20)
    account_manager_ids: list[Id] = Field(default_factory=list, max_length=100)
    external_ref: str | None = Field(default=None, max_length=200)
    address: PostalAddress = Field(default_factory=PostalAddress)
    vat_id: VatId = Field(default="", validate_default=True)  # after tax_profile: reverse charge needs it
    buyer_reference: str = Field(default="", max_length=100,
                                 description="BT-10: e.g. a German public buyer's Leitweg-ID")
    electronic_address: ElectronicAddress = Field(default_factory=ElectronicAddress)
    einvoice_format: EInvoiceFormat = EInvoiceFormat.NONE
    language: DocumentLanguage | None = Field(default=None, description="Default: the locale's language "
                                                                        "(en, de, nl, fr), else en")

    @model_validator(mode="before")
    @classmethod
    def _lift(cls, data: Any) -> Any:
        return _lift_tax_id(data)

    @field_validator("vat_id")
    @classmethod
    def _reverse_charge(cls, v: str, info: ValidationInfo) -> str:
        _needs_vat_id(info.data.get("tax_profile"), v)
        return v

    def buyer(self) -> Buyer:
        language = self.language or _language_of(self.locale)
        return Buyer.model_validate({
            "legal_name": self.name, "address": self.address, "vat_id": self.vat_id,
            "buyer_reference": self.buyer_reference.strip(), "electronic_address": self.electronic_address,
            "einvoice_format": self.einvoice_format, "language": language})

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        try:
            return check_currency(v)
        except ValidationFailed as e:
            raise ValueError(e.message) from None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


_terms_adapter: TypeAdapter[Terms] = TypeAdapter(Terms)


def parse_terms(data: dict[str, object]) -> Terms:
    """Validate arrangement terms, turning pydantic's errors into one that names the field."""
    try:
        return _terms_adapter.validate_python(data)
    except ValidationError as e:
        err = refusal(e, skip=(data.get("kind"),))
        err.field = err.field or "kind"
        raise err from None


def _language_of(locale: str) -> DocumentLanguage:
    try:
        return DocumentLanguage(locale[:2].lower())
    except ValueError:
        return DocumentLanguage.EN


def _client_view(c: ClientRow) -> ClientView:
    return ClientView.of(c)


def check_managers(uow: UnitOfWork, user_ids: Sequence[int]) -> None:
    """Every id is an account manager's (a step of creating or changing a client, and of importing a book)."""
    for uid in user_ids:
        u = uow.users.get(uid)
        if u is None or u.role != "account_manager":
            raise ValidationFailed(f"user {uid} is not an account manager", field="account_manager_ids")


def new_client_row(uow: UnitOfWork, data: ClientIn) -> ClientRow:
    """The row a valid new client is stored as (not yet added; its managers are set apart)."""
    row = ClientRow(
        name=data.name, currency=data.currency, billing_emails=[str(e) for e in data.billing_emails],
        payment_terms_days=data.payment_terms_days, tax_profile=data.tax_profile.as_json(),
        po_required=data.po_required, po_number=data.po_number, locale=data.locale,
        external_ref=data.external_ref, created_at=uow.clock.now())
    write_buyer(row, data.buyer())
    return row


def create_client(uow: UnitOfWork, actor: Actor, data: ClientIn | Mapping[str, Any]) -> ClientView:
    require(actor, Perm.MANAGE_CLIENTS)
    data = parse_input(ClientIn, data)
    with uow:
        check_managers(uow, data.account_manager_ids)
        row = uow.clients.add(new_client_row(uow, data))
        uow.clients.set_managers(row.id, data.account_manager_ids)
        uow.session.refresh(row)
        view = _client_view(row)
        uow.audit.record(actor, "client.created", "client", row.id, after=view.model_dump(mode="json"))
        accounting.queue_client(uow, row.id)  # the accounting system's customer (issue 16)
        uow.commit()
    return view


class ClientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    billing_emails: list[EmailStr] | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    tax_profile: TaxProfile | None = None
    po_required: bool | None = None
    po_number: str | None = Field(default=None, max_length=100)
    locale: str | None = None
    account_manager_ids: list[Id] | None = Field(default=None, max_length=100)
    # buyer details; address and electronic_address merge part by part ({"address": {"postcode": "1011 AB"}})
    address: AddressPatch | None = None
    vat_id: str | None = None
    buyer_reference: str | None = Field(default=None, max_length=100)
    electronic_address: ElectronicAddressPatch | None = None
    einvoice_format: EInvoiceFormat | None = None
    language: DocumentLanguage | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift(cls, data: Any) -> Any:
        return _lift_tax_id(data)

    @field_validator("name", "billing_emails", "payment_terms_days", "po_required", "po_number", "locale",
                     "account_manager_ids", "address", "vat_id", "buyer_reference", "electronic_address",
                     "einvoice_format", "language", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        # An explicit null would reach a NOT NULL column (or a loop) and fail as a server error.
        if v is None:
            raise ValueError("must not be null: leave the field out to keep its value")
        return v


def update_client(uow: UnitOfWork, actor: Actor, client_id: int, patch: ClientPatch | Mapping[str, Any],
                  ) -> ClientView:
    """Change a client's details. The currency never changes once set: invoices depend on it."""
    require(actor, Perm.MANAGE_CLIENTS)
    patch = parse_input(ClientPatch, patch)
    with uow:
        row = load_client(uow, actor, client_id)
        if patch.account_manager_ids is not None:
            check_managers(uow, patch.account_manager_ids)
        before = _client_view(row).model_dump(mode="json")
        data = patch.model_dump(exclude_unset=True)
        buyer_changes = {k: data.pop(k) for k in _BUYER_FIELDS if k in data}
        buyer = merge(Buyer, buyer_of(row), buyer_changes) if buyer_changes else buyer_of(row)
        profile = patch.tax_profile if "tax_profile" in data else TaxProfile.model_validate(row.tax_profile or {})
        try:
            _needs_vat_id(profile, buyer.vat_id)
        except ValueError as e:
            raise ValidationFailed(str(e), field="vat_id") from None
        if buyer_changes:
            write_buyer(row, buyer)
        for key, value in data.items():
            if key == "tax_profile":
                row.tax_profile = patch.tax_profile.as_json() if patch.tax_profile else {}
            elif key == "billing_emails":
                row.billing_emails = [str(e) for e in value]
            elif key == "account_manager_ids":
                uow.clients.set_managers(row.id, value)
            else:
                setattr(row, key, value)
        uow.flush()
        uow.session.refresh(row)
        view = _client_view(row)
        uow.audit.record(actor, "client.updated", "client", row.id, before=before,
                         after=view.model_dump(mode="json"))
        accounting.queue_client(uow, row.id)  # the accounting system's customer (issue 16)
        uow.commit()
    return view


def get_client(uow: UnitOfWork, actor: Actor, client_id: int) -> ClientView:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return _client_view(load_client(uow, actor, client_id))


def list_clients(uow: UnitOfWork, actor: Actor, name: str | None = None, limit: int = 100,
                 offset: int = 0, include_archived: bool = False) -> list[ClientView]:
    """Clients by name; archived ones only when asked for."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return [_client_view(c) for c in uow.clients.list(client_scope(actor), name, limit, offset,
                                                          include_archived=include_archived)]


def archive_client(uow: UnitOfWork, actor: Actor, client_id: int, reason: str = "") -> ClientView:
    """Archive a client: no new drafts, no rules fire for it, lists hide it; its open invoices still take payments
    and reminders, and issued invoices keep what they said."""
    return _set_archived(uow, actor, client_id, True, reason)


def reactivate_client(uow: UnitOfWork, actor: Actor, client_id: int) -> ClientView:
    """Bring an archived client back: drafts and rules work for it again."""
    return _set_archived(uow, actor, client_id, False, "")


def _set_archived(uow: UnitOfWork, actor: Actor, client_id: int, archived: bool, reason: str) -> ClientView:
    require(actor, Perm.MANAGE_CLIENTS)
    with uow:
        row = load_client(uow, actor, client_id)
        if (row.archived_at is not None) == archived:
            raise BadTransition("this client is already " + ("archived" if archived else "active"),
                                code="client.archived" if archived else "client.active", field="client_id")
        before = _client_view(row).model_dump(mode="json")
        row.archived_at = uow.clock.now() if archived else None
        uow.flush()
        view = _client_view(row)
        uow.audit.record(actor, "client.archived" if archived else "client.reactivated", "client", row.id,
                         before=before, after={**view.model_dump(mode="json"), "reason": reason.strip()})
        uow.commit()
    return view


def refuse_archived(client: ClientRow) -> None:
    """Archived clients get no new drafts (whatever the door or rule)."""
    if client.archived_at is not None:
        raise BadTransition(f"{client.name} is archived: reactivate the client to bill it again",
                            code="client.archived", field="client_id")


def check_arrangement(terms: Terms, client: ClientRow, retainer: tuple[int, str] | None,
                      has_retainer: Callable[[], bool]) -> None:
    """A new arrangement's rules beyond its model (a step of adding one, and of importing a book): amounts fit the
    client's currency; an SLA credit's retainer (`retainer`: its client id and kind) is a retainer of the same
    client, and a percentage credit needs one (`has_retainer`, asked only then)."""
    places = minor_exponent(client.currency)
    for field, amount in money_fields(terms).items():
        parse_decimal(amount, field, max_places=places)
    if terms.kind == "sla_credit" and terms.retainer_arrangement_id is not None:
        if retainer is None or retainer != (client.id, "retainer"):
            raise ValidationFailed("must be a retainer arrangement of the same client",
                                   field="retainer_arrangement_id")
    elif terms.kind == "sla_credit" and terms.credit_pct is not None and not has_retainer():
        # a percentage of nothing would burn every breach as a 0.00 credit
        raise ValidationFailed("a percentage credit needs a retainer to take the percentage of: add the "
                               "retainer first, or give a fixed_amount", field="retainer_arrangement_id")


def new_arrangement_row(uow: UnitOfWork, client_id: int, terms: Terms) -> ArrangementRow:
    """The row checked terms are stored as (not yet added)."""
    stored = terms.model_dump(mode="json", exclude={"name", "starts_on", "ends_on", "kind"})
    if isinstance(terms, MilestoneTerms):
        stored = {}
    return ArrangementRow(
        client_id=client_id, kind=terms.kind, name=terms.name or terms.kind.replace("_", " ").title(),
        terms=stored, starts_on=terms.starts_on, ends_on=terms.ends_on, active=True, created_at=uow.clock.now())


def new_milestone_rows(row: ArrangementRow, client: ClientRow, terms: Terms) -> list[MilestoneRow]:
    """A milestone arrangement's milestones, in the client's currency (none for other kinds); not yet added."""
    if not isinstance(terms, MilestoneTerms):
        return []
    places = minor_exponent(client.currency)
    return [MilestoneRow(arrangement_id=row.id, client_id=client.id, name=m.name,
                         amount_minor=int(round_money(m.amount, client.currency).scaleb(places)),
                         currency=client.currency) for m in terms.milestones]


def add_arrangement(uow: UnitOfWork, actor: Actor, client_id: int, data: dict[str, object]) -> ArrangementView:
    """Attach contract terms to a client; amounts must fit the client's currency."""
    require(actor, Perm.MANAGE_CLIENTS)
    terms = parse_terms(data)
    with uow:
        client = load_client(uow, actor, client_id)
        ret = uow.arrangements.get(terms.retainer_arrangement_id) \
            if terms.kind == "sla_credit" and terms.retainer_arrangement_id is not None else None
        check_arrangement(terms, client, (ret.client_id, ret.kind) if ret is not None else None,
                          lambda: any(a.kind == "retainer" for a in uow.arrangements.for_client(client_id)))
        row = uow.arrangements.add(new_arrangement_row(uow, client_id, terms))
        milestones = []
        for ms in new_milestone_rows(row, client, terms):
            milestones.append(MilestoneView.of(uow.arrangements.add(ms)))
        if not isinstance(terms, MilestoneTerms):
            first_version(uow, row, actor)
        view = ArrangementView.of(row, milestones)
        uow.audit.record(actor, "arrangement.created", "arrangement", row.id, after=view.model_dump(mode="json"),
                         cause={})
        uow.commit()
    return view


def list_arrangements(uow: UnitOfWork, actor: Actor, client_id: int) -> list[ArrangementView]:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        load_client(uow, actor, client_id)
        out = []
        for a in uow.arrangements.for_client(client_id, active_only=False):
            ms = [MilestoneView.of(m, uow.work.is_claimed("milestone", m.id))
                  for m in uow.arrangements.milestones(a.id)]
            out.append(ArrangementView.of(a, ms))
        return out


def close_arrangement(uow: UnitOfWork, actor: Actor, arrangement_id: int) -> ArrangementView:
    """Close an arrangement whose final invoice is drafted (the `close_contract` rule): it bills nothing more, not
    even work logged late. To end one on a date, with its last period prorated, use `contracts.end_arrangement`."""
    require(actor, Perm.MANAGE_CLIENTS)
    with uow:
        row = uow.arrangements.get(arrangement_id)
        if row is None:
            raise NotFound(f"no arrangement with id {arrangement_id}", code="arrangement.not_found",
                           field="arrangement_id")
        load_client(uow, actor, row.client_id)
        if row.active:  # ending it again changes nothing, so it tells the audit log nothing
            row.active = False
            uow.audit.record(actor, "arrangement.closed", "arrangement", row.id, before={"active": True},
                             after={"active": False, "client_id": row.client_id})
        view = ArrangementView.of(row)
        uow.commit()
    return view
