"""Schema migrations (Alembic): the only way the schema is made or changed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from domain.model.audit_chain import Keyring

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, keyring: Keyring | None = None) -> None:
    """Bring the database to the newest schema (idempotent). Features may add migrations on their own branch
    (down_revision "0001"); "heads" applies every branch, and a merge revision can join them later. `keyring`:
    the audit keys a migration signs existing entries with (default: the embedded default's local key)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["audit_keyring"] = keyring
        command.upgrade(cfg, "heads")
