"""What route handlers depend on: the database, a fresh unit of work, and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.model.roles import Actor
from domain.services import users
from domain.store.session import Database
from domain.store.uow import UnitOfWork

# Set by the idempotency middleware when it has already authenticated the request.
ACTOR_STATE_KEY = "billable_actor"

bearer = HTTPBearer(auto_error=False, description="An API token made by `billable users add EMAIL --role ROLE`.")


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_uow(db: Annotated[Database, Depends(get_db)]) -> UnitOfWork:
    return db.uow()


def current_actor(request: Request, db: Annotated[Database, Depends(get_db)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    """The person behind `Authorization: Bearer <token>`; 401 problem+json when missing or unknown."""
    known = request.scope.get("state", {}).get(ACTOR_STATE_KEY)
    if isinstance(known, Actor):
        return known
    return users.authenticate_token(db.uow(readonly=True), credentials.credentials if credentials else "")


Uow = Annotated[UnitOfWork, Depends(get_uow)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
