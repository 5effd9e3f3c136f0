"""What every role-matrix test shares (tests/services/test_rbac.py and the accounting ones): the roles by their
letters, and the public use cases a matrix must name."""

from __future__ import annotations

import inspect
from types import ModuleType

ROLES = {"O": "owner", "F": "finance", "A": "account_manager", "C": "contractor", "V": "viewer"}


def public_services(*modules: ModuleType) -> set[str]:
    """The names of the modules' public use cases: functions defined there taking `(uow, actor, ...)`."""
    return {name for module in modules for name, fn in inspect.getmembers(module, inspect.isfunction)
            if fn.__module__ == module.__name__ and not name.startswith("_")
            and list(inspect.signature(fn).parameters)[:2] == ["uow", "actor"]}
