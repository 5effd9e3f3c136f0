"""Rules as data: a YAML document says which events bill what, and what happens to a clean draft.

    aliases:                                  # external refs that name a client known under another ref
      "toggl:project:178435728": "hubspot:company:5834129"
    rules:
      - id: tm-threshold                      # unique, used as the audit cause
        on: [time.logged, time.updated]       # one canonical event type or a list
        when: {}                              # equality tests on the event's data fields (a list: any of)
        action: bill_threshold                # what to do (see ACTIONS)
        params: {hours: "20", amount: "3000.00"}
        clean_draft: hold_for_review          # or auto_issue; flagged drafts always wait for approval
        send_on_issue: true                   # e-mail what it issues at once (default: the workspace setting)

The document is validated as a whole before it replaces the current one; every refusal names the rule (its index
and id), the line in the YAML and the field. Versions are kept (rule_sets), the newest applies.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import BillingError, ValidationFailed
from domain.model.events import EventType, fields_of
from domain.model.money import parse_decimal
from domain.model.roles import Actor, Perm
from domain.model.tax import TaxProfile
from domain.services._auth import require
from domain.services.clients import parse_terms
from domain.store.tables import RuleSetRow
from domain.store.uow import UnitOfWork

Clean = Literal["auto_issue", "hold_for_review"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnboardParams(_Params):
    """deal.won: create the client if new, attach the contract's arrangements, draft the onboarding invoice."""

    currency: str = "EUR"
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    tax_profile: TaxProfile = Field(default_factory=TaxProfile)
    billing_emails: list[str] = Field(default_factory=list)  # default: the deal's contact e-mail
    contract: list[dict[str, Any]] = Field(default_factory=list)
    complete_milestones: list[str] = Field(default_factory=list)  # milestone names done the day the deal is won
    draft: bool = True

    @field_validator("contract")
    @classmethod
    def _terms(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, terms in enumerate(v):
            try:
                parse_terms({k: val for k, val in terms.items()})
            except BillingError as e:
                raise ValueError(f"contract.{i}.{e.field}: {e.message}") from None
        return v


class ThresholdParams(_Params):
    """time.*: draft a T&M invoice once the client's unbilled hours or amount reach a threshold."""

    hours: str | None = None
    amount: str | None = None

    @field_validator("hours", "amount", mode="before")
    @classmethod
    def _dec(cls, v: object) -> object:
        if v is None:
            return v
        if isinstance(v, float | bool):
            raise ValueError('must be a decimal string such as "20", not a YAML number with a fraction')
        try:
            parse_decimal(str(v), "threshold")
        except ValidationFailed as e:
            raise ValueError(e.message) from None
        return str(v)


class NoParams(_Params):
    pass


class CatchUpParams(_Params):
    """Schedules: how far back the tick looks for due dates nobody billed (a 3-month outage is caught up)."""

    catch_up_days: int = Field(default=120, ge=0, le=3660)


class ActionSpec:
    """An action: the params it takes and the events it can handle."""

    def __init__(self, params: type[_Params], on: frozenset[EventType], drafts: bool = True) -> None:
        self.params, self.on, self.drafts = params, on, drafts


E = EventType
ACTIONS: dict[str, ActionSpec] = {
    "onboard_client": ActionSpec(OnboardParams, frozenset({E.DEAL_WON})),
    "bill_milestone": ActionSpec(NoParams, frozenset({E.MILESTONE_COMPLETED})),
    "bill_threshold": ActionSpec(ThresholdParams, frozenset({E.TIME_LOGGED, E.TIME_UPDATED})),
    "bill_period": ActionSpec(CatchUpParams, frozenset({E.PERIOD_DUE})),
    "close_contract": ActionSpec(CatchUpParams, frozenset({E.CONTRACT_ENDED})),
    "bill_now": ActionSpec(NoParams, frozenset({E.SUBSCRIPTION_RENEWED, E.MILESTONE_COMPLETED, E.EXPENSE_RECORDED,
                                                E.DEAL_WON})),
    "credit_next_invoice": ActionSpec(NoParams, frozenset({E.SLA_BREACHED}), drafts=False),
}

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    on: list[EventType] = Field(alias="on")
    when: dict[str, str | int | bool | list[str | int | bool]] = Field(default_factory=dict)
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    clean_draft: Clean = "hold_for_review"
    # e-mail what this rule issues at once (true) or not (false); unset: the workspace's `send_on_issue`
    send_on_issue: bool | None = None
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit")
        return v

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, v: object) -> object:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list) and not v:
            raise ValueError("name at least one event type")
        return v

    @field_validator("action")
    @classmethod
    def _action(cls, v: str) -> str:
        if v not in ACTIONS:
            raise ValueError(f"unknown action {v!r}; one of {', '.join(sorted(ACTIONS))}")
        return v

    @model_validator(mode="after")
    def _fits(self) -> Rule:
        spec = ACTIONS[self.action]
        wrong = [t.value for t in self.on if t not in spec.on]
        if wrong:
            raise ValueError(f"on: action {self.action} cannot handle {', '.join(wrong)} (it handles "
                             f"{', '.join(sorted(t.value for t in spec.on))})")
        for key in self.when:
            if not all(key in fields_of(t) for t in self.on):
                known = sorted(set.intersection(*(set(fields_of(t)) for t in self.on)))
                raise ValueError(f"when.{key}: the event has no field {key!r}; it has {', '.join(known)}")
        return self

    def matches(self, event_type: str, data: dict[str, Any]) -> bool:
        if not self.enabled or event_type not in self.on:
            return False
        for key, want in self.when.items():
            options = want if isinstance(want, list) else [want]
            have = str(data.get(key, "")).casefold()
            if have not in {str(o).casefold() for o in options}:
                return False
        return True

    def typed_params(self) -> Any:
        return ACTIONS[self.action].params.model_validate(self.params)


class RuleDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aliases: dict[str, str | int] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RuleDocument:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} is used twice")
            seen.add(r.id)
        return self


@dataclass(frozen=True)
class RuleBook:
    """The rules in force: the document, its version (rule_sets id) and digest; `memo` caches lookups for the
    batch of jobs (one transaction) this book was loaded for."""

    doc: RuleDocument
    version: int | None
    digest: str
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    def matching(self, event_type: str, data: dict[str, Any]) -> list[Rule]:
        return [r for r in self.doc.rules if r.matches(event_type, data)]

    def listens(self, event_type: EventType) -> bool:
        return any(r.enabled and event_type in r.on for r in self.doc.rules)

    def alias(self, ref: str) -> str | int | None:
        return self.doc.aliases.get(ref)


EMPTY = RuleBook(RuleDocument(), None, hashlib.sha256(b"").hexdigest())


# ---- parsing with line numbers -------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 reads `on:`, the key every rule has, as the boolean True.)
    No aliases (`*name`): a few hundred bytes of nested aliases expand to billions of nodes (an alias bomb), and
    rules gain nothing from them."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in rules: write the "
                                              "value out", event.start_mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _lines(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*path, i), out)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _refusal(errors: list[dict[str, Any]]) -> ValidationFailed:
    first = errors[0]
    where = []
    if first.get("rule") is not None:
        where.append(f"rule {first['rule']}")
    if first.get("line") is not None:
        where.append(f"line {first['line']}")
    prefix = ", ".join(where)
    message = f"{prefix}: {first['field']}: {first['message']}" if prefix else f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more, see details)"
    return ValidationFailed(message, code="rules.invalid", field=first["field"], details={"errors": errors})


def _rule_name(data: Any, index: Any) -> str | None:
    if isinstance(index, int) and isinstance(data, dict) and isinstance(data.get("rules"), list) \
            and index < len(data["rules"]):
        r = data["rules"][index]
        rid = r.get("id") if isinstance(r, dict) else None
        return f"#{index + 1} ({rid})" if rid else f"#{index + 1}"
    return None


def parse_rules(text: str) -> RuleDocument:
    """Validate a rules document; a refusal names the rule, the line and the field of each problem."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise _refusal([{"rule": None, "line": line, "field": "yaml",
                         "message": f"not valid YAML: {e.problem or e.context}"}]) from None
    except yaml.YAMLError as e:
        raise _refusal([{"rule": None, "line": None, "field": "yaml", "message": f"not valid YAML: {e}"}]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _refusal([{"rule": None, "line": 1, "field": "document",
                         "message": "must be a mapping with `rules:` (and optionally `aliases:`)"}])
    lines: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _lines(root, (), lines)
    try:
        doc = RuleDocument.model_validate(data)
    except ValidationError as e:
        errors = []
        for err in e.errors():
            loc = tuple(err["loc"])
            # "rules.2.on" -> rule #3, field "on"; a model-level error of a rule has loc ("rules", 2)
            rule = _rule_name(data, loc[1]) if len(loc) > 1 and loc[0] == "rules" else None
            field = ".".join(str(p) for p in (loc[2:] if rule else loc)) or "rule"
            msg = str(err["msg"]).removeprefix("Value error, ")
            if rule and field == "rule" and (msg.startswith("when.") or msg.startswith("on: ")):
                field, msg = msg.split(": ", 1)  # a check across fields names the one at fault
                loc = (*loc, *field.split("."))
            errors.append({"rule": rule, "line": _line_of(lines, loc), "field": field, "message": msg})
        raise _refusal(errors) from None
    errors = []
    for i, r in enumerate(doc.rules):
        try:
            r.typed_params()
        except ValidationError as e:
            for err in e.errors():
                loc = ("rules", i, "params", *err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                field = "params." + ".".join(str(p) for p in err["loc"])
                if msg.startswith("contract.") and ": " in msg:  # the terms validator names its own field
                    sub, msg = msg.split(": ", 1)
                    field = f"params.{sub}"
                    loc = ("rules", i, "params", *(int(p) if p.isdigit() else p for p in sub.split(".")))
                errors.append({"rule": _rule_name(data, i), "line": _line_of(lines, loc), "field": field,
                               "message": msg})
    if errors:
        raise _refusal(errors)
    return doc


# ---- the rules in force ------------------------------------------------------------------------------------------

_cache: dict[str, RuleDocument] = {}
_lock = threading.Lock()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def current_book(uow: UnitOfWork) -> RuleBook:
    """The rules in force (parsed once per version and process)."""
    row = uow.rule_sets.current()
    if row is None:
        return RuleBook(EMPTY.doc, None, EMPTY.digest)  # a fresh memo for each batch, never a shared one
    with _lock:
        doc = _cache.get(row.digest)
        if doc is None:
            doc = _cache[row.digest] = parse_rules(row.text)
    return RuleBook(doc, row.id, row.digest)


class RulesView(BaseModel):
    version: int | None
    text: str
    rules: list[dict[str, Any]]
    aliases: dict[str, str | int]
    updated_by: str | None = None
    updated_at: str | None = None


def _view(row: RuleSetRow | None) -> RulesView:
    if row is None:
        return RulesView(version=None, text="", rules=[], aliases={})
    doc = parse_rules(row.text)
    return RulesView(version=row.id, text=row.text, rules=[r.model_dump(mode="json", by_alias=True) for r in doc.rules],
                     aliases=doc.aliases, updated_by=row.created_by, updated_at=row.created_at.isoformat())


def get_rules(uow: UnitOfWork, actor: Actor) -> RulesView:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return _view(uow.rule_sets.current())


def check_rules(text: str) -> RuleDocument:
    """Validate without storing (the CLI's `rules check`)."""
    return parse_rules(text)


def put_rules(uow: UnitOfWork, actor: Actor, text: str) -> RulesView:
    """Replace the rules in force with a validated document; the same document again changes nothing."""
    require(actor, Perm.MANAGE_SETTINGS)
    if len(text) > 1_000_000:
        raise ValidationFailed("a rules document is at most 1 MB", code="rules.too_large", field="text")
    doc = parse_rules(text)
    with uow:
        current = uow.rule_sets.current()
        digest = _digest(text)
        if current is not None and current.digest == digest:
            return _view(current)
        row = uow.rule_sets.add(RuleSetRow(text=text, digest=digest, created_by=actor.label or actor.email or "?",
                                           created_at=uow.clock.now()))
        uow.audit.record(actor, "rules.updated", "rule_set", row.id,
                         before={"version": current.id, "digest": current.digest} if current else None,
                         after={"version": row.id, "digest": digest, "rules": [r.id for r in doc.rules],
                                "aliases": len(doc.aliases)})
        view = _view(row)
        uow.commit()
    return view
