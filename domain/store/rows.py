"""New rows built without the ORM's attribute events, for the rows a month-end run makes by the thousand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import ClassManager, manager_of_class

from domain.store.tables import Base

R = TypeVar("R", bound=Base)


@cache
def _shape(cls: type[Base]) -> tuple[ClassManager[Any], frozenset[str], dict[str, str | None]]:
    """The class's instrumentation, its column attributes, and each collection with the attribute back to it."""
    configure_mappers()  # what the constructor would make sure of before the first row
    mapper = inspect(cls)
    collections: dict[str, str | None] = {r.key: r.back_populates for r in mapper.relationships if r.uselist}
    return manager_of_class(cls), frozenset(a.key for a in mapper.column_attrs), collections


def new_row(cls: type[R], values: Mapping[str, Any], **children: Sequence[Base]) -> R:
    """What `cls(**values)` makes (a new row, in no session) for column values, at a fraction of the cost; and
    `children`, new rows of its collections (`lines=[...]`), set with each one's reference back to it.

    The constructor and `append` set each value through the ORM's events, which keep a change history and
    cascade; a new row needs neither: its INSERT (the flush's, or `insert_new`'s) writes the values it holds.
    The children do not get the row's id as their foreign key (it has none yet): `insert_new` writes it, and a
    caller adding the row to a session sets it on them first (after `preassign_ids`).
    """
    manager, columns, collections = _shape(cls)
    unknown = (values.keys() - columns) | (children.keys() - collections.keys())
    if unknown:
        raise TypeError(f"{cls.__name__} has no column or collection {', '.join(sorted(unknown))}")
    row: R = manager.new_instance()
    row.__dict__.update(values)
    for key, rows in children.items():
        set_committed_value(row, key, list(rows))
        back = collections[key]
        if back:
            for child in rows:
                child.__dict__[back] = row
    return row
