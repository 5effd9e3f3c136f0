"""Permission and scope checks shared by every service."""

from __future__ import annotations

from domain.errors import Forbidden, NotFound
from domain.model.roles import WHO_CAN, Actor, Perm, Role
from domain.store.tables import ClientRow
from domain.store.uow import UnitOfWork


def require(actor: Actor, perm: Perm) -> None:
    """Refuse, naming who can, when the actor's role lacks the permission."""
    if not actor.can(perm):
        raise Forbidden(f"a {actor.role.value} cannot {perm.value.replace('_', ' ')}; only "
                        f"{WHO_CAN[perm]} can", details={"permission": perm.value, "role": actor.role.value})


def client_scope(actor: Actor) -> frozenset[int] | None:
    """The client ids an actor may see, or None for all."""
    if actor.role == Role.ACCOUNT_MANAGER:
        return actor.client_ids or frozenset()
    return None


def load_client(uow: UnitOfWork, actor: Actor, client_id: int, field: str = "client_id") -> ClientRow:
    """A client the actor may act on. Out-of-scope clients look like unknown ones (no existence leak)."""
    client = uow.clients.get(client_id)
    scope = client_scope(actor)
    if client is None or (scope is not None and client_id not in scope):
        raise NotFound(f"no client with id {client_id}", code="client.not_found", field=field)
    return client
