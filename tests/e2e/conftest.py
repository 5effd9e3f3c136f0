"""Fixtures for the end-to-end tests: a live server on the test's database, users per role, a client."""

from tests.support.fixtures import api, api_server, as_user, people, server

__all__ = ["api", "api_server", "as_user", "people", "server"]
