"""Where the audit log's keys come from: the settings (BILLABLE_AUDIT_KEY, its id, retired keys), or, in the
embedded default with no settings, a key generated once into a local file outside the database."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from domain.model.audit_chain import Keyring
from domain.settings import LOCAL_AUDIT_KEY_ID, Settings


def default_key_file() -> Path:
    """~/.config/billable/audit.key (or under $XDG_CONFIG_HOME): one per user, beside no database, so a copied or
    stolen database file does not carry its key."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "billable" / "audit.key"


def local_key(path: Path, create: bool = True) -> bytes | None:
    """The key in `path`; made (32 random bytes, hex, mode 0600) if missing and `create`. Concurrent first uses
    agree: the file is published whole with a hard link, which fails if another process published first."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")
    try:
        os.write(fd, secrets.token_hex(32).encode() + b"\n")
        os.fchmod(fd, 0o600)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs is the key
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


def keyring_for(settings: Settings | None = None) -> Keyring:
    """The keys to sign and verify with. A configured key signs; retired keys verify their entries; outside
    production, the local key (if it exists) verifies what was written before a key was configured."""
    settings = settings or Settings.model_construct()  # the defaults, nothing read from the environment
    path = Path(settings.audit_key_file) if settings.audit_key_file else default_key_file()
    keys = {kid: k.get_secret_value().encode() for kid, k in settings.audit_old_keys.items()}
    if settings.audit_key is not None:
        keys[settings.audit_key_id] = settings.audit_key.get_secret_value().encode()
        if settings.env != "production":
            local = local_key(path, create=False)
            if local is not None:
                keys.setdefault(LOCAL_AUDIT_KEY_ID, local)
        return Keyring(settings.audit_key_id, keys)
    local = local_key(path)
    assert local is not None
    keys[LOCAL_AUDIT_KEY_ID] = local
    return Keyring(LOCAL_AUDIT_KEY_ID, keys)
