"""The lock files that `make run`, `make test` and CI install from must pin every dependency pyproject.toml
names (a dependency added without `make lock` would otherwise be missing on a fresh machine)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pinned(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", []), ("requirements-dev.lock", ["dev"])])
def test_every_dependency_is_pinned_with_hashes(lock: str, extras: list[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in extras:
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    path = ROOT / lock
    pins = _pinned(path)
    missing = sorted(wanted - set(pins))
    assert not missing, f"{lock} lacks {missing}: run `make lock` and commit the lock files"
    text = path.read_text(encoding="utf-8")
    # every pinned requirement line carries at least one hash (pip --require-hashes refuses it otherwise)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    for block in blocks:
        if re.match(r"^[A-Za-z0-9._-]+==", block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
