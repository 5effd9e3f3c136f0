"""Roles, permissions and who is acting. Enforced by the services, for every door."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    FINANCE = "finance"
    ACCOUNT_MANAGER = "account_manager"
    CONTRACTOR = "contractor"
    VIEWER = "viewer"


class Perm(StrEnum):
    VIEW_BOOKS = "view_books"            # invoices, clients, audit (account managers: own clients only)
    MANAGE_CLIENTS = "manage_clients"    # clients and arrangements
    LOG_TIME = "log_time"                # contractors: own entries only
    RECORD_WORK = "record_work"          # expenses, milestones, SLA breaches
    DRAFT = "draft"                      # draft invoices, add manual lines, submit for approval
    ISSUE = "issue"
    APPROVE = "approve"                  # approve / reject flagged invoices
    VOID = "void"                        # void, mark uncollectible, credit notes
    PAYMENTS = "payments"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"
    EXPORT_BOOKS = "export_books"        # the whole ledger for the accountant (DATEV, accounting sync)
    MANAGE_COMPANY = "manage_company"    # the seller's legal identity and bank account: owners only


_ALL = frozenset(Perm)

PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.OWNER: _ALL,
    Role.FINANCE: _ALL - {Perm.MANAGE_USERS, Perm.MANAGE_COMPANY},
    Role.ACCOUNT_MANAGER: frozenset({Perm.VIEW_BOOKS, Perm.LOG_TIME, Perm.RECORD_WORK, Perm.DRAFT}),
    Role.CONTRACTOR: frozenset({Perm.LOG_TIME}),
    Role.VIEWER: frozenset({Perm.VIEW_BOOKS}),
}

# Said to a person who lacks a permission, so the refusal tells them who can help.
WHO_CAN: dict[Perm, str] = {
    Perm.VIEW_BOOKS: "owners, finance, viewers and the client's account managers",
    Perm.MANAGE_CLIENTS: "owners and finance",
    Perm.LOG_TIME: "anyone but viewers",
    Perm.RECORD_WORK: "owners, finance and account managers",
    Perm.DRAFT: "owners, finance and account managers",
    Perm.ISSUE: "owners and finance",
    Perm.APPROVE: "owners and finance",
    Perm.VOID: "owners and finance",
    Perm.PAYMENTS: "owners and finance",
    Perm.MANAGE_USERS: "owners",
    Perm.MANAGE_SETTINGS: "owners and finance",
    Perm.EXPORT_BOOKS: "owners and finance",
    Perm.MANAGE_COMPANY: "owners",
}


class ActorKind(StrEnum):
    PERSON = "person"
    AGENT = "agent"      # the LLM agent acting on behalf of a person (with that person's role)
    SYSTEM = "system"    # scheduler, CLI maintenance
    EVENT = "event"      # a rule fired by an inbound event


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting. The agent and events act with a role; the audit log records which."""

    kind: ActorKind
    role: Role
    user_id: int | None = None
    email: str | None = None
    label: str = ""
    client_ids: frozenset[int] | None = field(default=None)  # account managers: their clients

    @classmethod
    def person(cls, user_id: int, email: str, role: Role, client_ids: frozenset[int] | None = None) -> Actor:
        return cls(ActorKind.PERSON, role, user_id, email, email, client_ids)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, Role.OWNER, None, None, label)

    def via_agent(self) -> Actor:
        """The same person's authority, recorded as the agent acting for them."""
        return Actor(ActorKind.AGENT, self.role, self.user_id, self.email, f"agent for {self.email}",
                     self.client_ids)

    def can(self, perm: Perm) -> bool:
        return perm in PERMISSIONS[self.role]

    @property
    def is_person_like(self) -> bool:
        return self.kind in (ActorKind.PERSON, ActorKind.AGENT)
