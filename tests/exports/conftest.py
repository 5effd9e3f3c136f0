"""Fixtures for the exports: the service-test world and the live HTTP server."""

from tests.services.conftest import world
from tests.support.fixtures import api, api_server, as_user, people, server

__all__ = ["api", "api_server", "as_user", "people", "server", "world"]
