"""The staff dashboard under /app: server-rendered pages over the same domain services as the API.

Sign-in is e-mail + password (set with `billable users set-password EMAIL`); a server-side session in an HttpOnly
cookie; every form carries the session's CSRF token. Roles apply exactly as in the API, since every read and action
is a call into `domain/services` as the signed-in person.
"""

from channels.web import (
    _accounting,  # noqa: F401  (registers the accounting page and QuickBooks callback)
    _clients,  # noqa: F401  (registers the client and export pages on the router)
    _drift,  # noqa: F401  (registers the QuickBooks drift page and its buttons)
    _imports,  # noqa: F401  (registers the book import page on the router)
)
from channels.web._routes import mount

__all__ = ["mount"]
