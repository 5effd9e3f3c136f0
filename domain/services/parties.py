"""The parties: the workspace as seller, a client as buyer. Reading them as `Seller` / `Buyer` value objects (what
the issuing step freezes into an invoice), and changing the seller's details (owners only: the legal identity and
the bank account payments go to). A client's buyer details change through `clients.create_client` /
`clients.update_client`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.model.parties import Buyer, Seller
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services._input import parse_input, refusal
from domain.store.tables import ClientRow, WorkspaceRow
from domain.store.uow import UnitOfWork

__all__ = ["AddressPatch", "ElectronicAddressPatch", "SellerPatch", "buyer_of", "get_seller", "seller_of",
           "update_seller", "write_buyer", "write_seller"]


class _Patch(BaseModel):
    """Part of a party to change: fields left out keep their value; "" clears one."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError('must not be null: leave the field out to keep its value, or give "" to clear it')
        return v


class AddressPatch(_Patch):
    street: str | None = Field(default=None, examples=["Königstraße 10"])
    additional: str | None = None
    postcode: str | None = Field(default=None, examples=["70173"])
    city: str | None = Field(default=None, examples=["Stuttgart"])
    region: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2", examples=["DE"])


class ContactPatch(_Patch):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class BankAccountPatch(_Patch):
    iban: str | None = Field(default=None, examples=["DE89370400440532013000"])
    bic: str | None = Field(default=None, examples=["COBADEFFXXX"])
    bank_name: str | None = None
    account_holder: str | None = None


class ElectronicAddressPatch(_Patch):
    scheme: str | None = Field(default=None, description="Peppol EAS code, e.g. 9930 (German VAT ID), 0088 (GLN)",
                               examples=["9930"])
    identifier: str | None = Field(default=None, examples=["DE136695976"])


class SellerPatch(_Patch):
    """Changes to the seller's details; nested parts merge (a new postcode keeps the street)."""

    legal_name: str | None = Field(default=None, examples=["Brightline IT Services GmbH"])
    address: AddressPatch | None = None
    vat_id: str | None = Field(default=None, examples=["DE136695976"])
    tax_number: str | None = Field(default=None, description="National tax number (German Steuernummer)",
                                   examples=["99/815/08151"])
    registration: str | None = Field(default=None, examples=["HRB 12345, Amtsgericht Stuttgart"])
    contact: ContactPatch | None = None
    bank_account: BankAccountPatch | None = None
    electronic_address: ElectronicAddressPatch | None = None

# Fields of the value objects that live in a row under another name, or not at all.
_SELLER_SKIP: frozenset[str] = frozenset()
_BUYER_ROW_NAMES = {"legal_name": "name"}
_BUYER_SKIP = frozenset({"legal_name"})  # the client's name, changed as the client's name


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"address": {"city": "Stuttgart"}} -> {"address_city": "Stuttgart"}: the row's column names."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}_"))
        else:
            out[name] = "" if value is None else value
    return out


@cache
def _plan(model: type[BaseModel], prefix: str = "") -> tuple[tuple[str, str, type[BaseModel] | None, Any], ...]:
    """Each field of a party model: its name, its row column (or its nested model's prefix), its model when it is
    a nested one, its StrEnum when it is one."""
    out: list[tuple[str, str, type[BaseModel] | None, Any]] = []
    for name, info in model.model_fields.items():
        sub = info.annotation
        nested = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
        enum = sub if isinstance(sub, type) and issubclass(sub, str) and sub is not str else None
        out.append((name, f"{prefix}{name}_" if nested is not None else f"{prefix}{name}", nested, enum))
    return tuple(out)


def _read(model: type[BaseModel], row: object, prefix: str = "", **given: Any) -> Any:
    """The model from the row's columns (`{"address": {"city": ...}}` is read from `address_city`, the inverse of
    `_flatten`), fields given by name taken as given: empty columns leave a field at its default. Stored values were
    validated when written; constructing without re-checking keeps a read from failing should a check (a library's
    list of formats) tighten later."""
    fields: dict[str, Any] = {}
    for name, column, nested, enum in _plan(model, prefix):
        if name in given:
            fields[name] = given[name]
        elif nested is not None:
            fields[name] = _read(nested, row, column)
        else:
            value = getattr(row, column, None)
            if value is not None and value != "":
                fields[name] = value if enum is None else enum(value)
    return model.model_construct(**fields)


def seller_of(ws: WorkspaceRow) -> Seller:
    """The workspace as the seller an invoice names. Its legal name is never guessed from the workspace's display
    name: an invoice needs the registered one, so an empty one blocks issuing until it is filled in."""
    seller: Seller = _read(Seller, ws)
    return seller


def buyer_of(client: ClientRow) -> Buyer:
    """A client as the buyer an invoice names."""
    buyer: Buyer = _read(Buyer, client, legal_name=client.name)
    return buyer


def write_seller(ws: WorkspaceRow, seller: Seller) -> None:
    for column, value in _flatten(seller.model_dump(mode="json")).items():
        if column not in _SELLER_SKIP:
            setattr(ws, column, value)


def write_buyer(client: ClientRow, buyer: Buyer) -> None:
    """Store the buyer's details on the client row (the name is the client's own field)."""
    for column, value in _flatten(buyer.model_dump(mode="json", exclude=set(_BUYER_SKIP))).items():
        setattr(client, _BUYER_ROW_NAMES.get(column, column), value)


def merge(model: type[Seller] | type[Buyer], current: BaseModel, changes: Mapping[str, Any]) -> Any:
    """The current value with `changes` applied: nested objects (address, contact...) merge part by part, so a
    PATCH of {"address": {"postcode": "70173"}} keeps the street. A wrong value: ValidationFailed naming the
    field, e.g. "vat_id" or "bank_account.iban"."""
    base = current.model_dump(mode="json")
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    try:
        return model.model_validate(base)
    except ValidationError as e:
        raise refusal(e) from None


def get_seller(uow: UnitOfWork, actor: Actor) -> Seller:
    """The seller's details as invoices will show them."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return seller_of(uow.workspace.get())


def update_seller(uow: UnitOfWork, actor: Actor, patch: SellerPatch | Mapping[str, Any]) -> Seller:
    """Change the seller's details (owners only); every identifier is checked, and the change audited. Nothing
    changes when any value is wrong. Issued invoices keep the details they were issued with."""
    require(actor, Perm.MANAGE_COMPANY)
    changes = parse_input(SellerPatch, patch).model_dump(exclude_unset=True)
    with uow:
        ws = uow.workspace.get()
        current = seller_of(ws)
        seller: Seller = merge(Seller, current, changes)
        before = current.model_dump(mode="json")
        after = seller.model_dump(mode="json")
        if after != before:
            write_seller(ws, seller)
            uow.audit.record(actor, "workspace.seller_updated", "workspace", 1, before=before, after=after)
        uow.commit()
        return seller
