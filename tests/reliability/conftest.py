"""The reliability suite's own tests; the others (storm, crash) live beside their areas and are marked too."""

from tests.support.fixtures import api, api_server, as_user, people, server

__all__ = ["api", "api_server", "as_user", "people", "server"]
