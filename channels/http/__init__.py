"""The HTTP API door (FastAPI): `create_app(db)` builds it; every route calls one domain service."""

from channels.http.app import create_app

__all__ = ["create_app"]
