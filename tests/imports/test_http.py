"""POST /v1/imports on a live server (both databases): multipart and JSON, the dry run's report, the commit,
malformed uploads as 422 problem+json, the size limit, and who may import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.settings import Settings
from domain.store.session import Database
from tests.support.api import Api
from tests.support.fixtures import Clients, ServedApp, serve_idle

from .conftest import small_book


def _multipart(files: dict[str, str], dry_run: str = "true") -> dict[str, object]:
    return {"files": {name: (f"{name}.csv", text.encode(), "text/csv") for name, text in files.items()},
            "data": {"dry_run": dry_run}}


def test_a_dry_run_then_a_commit_of_uploaded_files(as_user: Clients, db: Database) -> None:
    files = small_book(3)
    bad = dict(files, arrangements=files["arrangements"].replace("900.00", "9OO.00"))
    r = as_user.finance.post("/v1/imports", **_multipart(bad))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["dry_run"] is True and report["committed"] is False and report["problem_count"] == 3
    assert {(p["file"], p["line"], p["column"]) for p in report["problems"]} == {
        ("arrangements.csv", 2, "fee"), ("arrangements.csv", 4, "fee"), ("arrangements.csv", 6, "fee")}
    refused = as_user.finance.post("/v1/imports", **_multipart(bad, "false"))
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "import.invalid" and refused.json()["field"] == "fee"
    assert refused.json()["details"]["problems"][0]["line"] == 2
    assert as_user.finance.get("/v1/clients").json() == []
    done = as_user.owner.post("/v1/imports", json={**files, "dry_run": False})
    assert done.status_code == 200, done.text
    assert done.json()["committed"] is True and done.json()["clients"] == {"rows": 3, "new": 3, "unchanged": 0}
    again = as_user.owner.post("/v1/imports", **_multipart(files, "false")).json()
    assert again["clients"]["unchanged"] == 3 and again["arrangements"]["new"] == 0
    assert len(as_user.owner.get("/v1/clients").json()) == 3


@pytest.mark.parametrize("role", ["account_manager", "contractor", "viewer"])
def test_only_owners_and_finance_import(as_user: Clients, role: str) -> None:
    r = as_user.__getattr__(role).post("/v1/imports", json={**small_book(1), "dry_run": True})
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"


def test_malformed_uploads_are_422_naming_the_part(as_user: Clients) -> None:
    finance = as_user.finance
    not_utf8 = finance.post("/v1/imports", files={"clients": ("c.csv", "name;Müller".encode("latin-1"), "text/csv")})
    assert not_utf8.status_code == 422 and not_utf8.json()["field"] == "clients"
    assert not_utf8.json()["code"] == "import.not_utf8"
    unknown = finance.post("/v1/imports", files={"customers": ("c.csv", b"external_id\n", "text/csv")})
    assert unknown.status_code == 422 and unknown.json()["field"] == "customers"
    flag = finance.post("/v1/imports", files={"clients": ("c.csv", b"a\n", "text/csv")}, data={"dry_run": "maybe"})
    assert flag.status_code == 422 and flag.json()["field"] == "dry_run"
    empty = finance.post("/v1/imports", json={"dry_run": True})
    assert empty.status_code == 422 and empty.json()["code"] == "import.empty"
    broken = finance.post("/v1/imports", content=b"--x\r\nnot a part", headers={
        "content-type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 422 and broken.headers["content-type"] == "application/problem+json"
    wrong_json = finance.post("/v1/imports", json={"clients": 5})
    assert wrong_json.status_code == 422 and wrong_json.json()["field"] == "clients"
    text = finance.post("/v1/imports", content=b"external_id,name", headers={"content-type": "text/csv"})
    assert text.status_code == 422 and text.json()["code"] == "import.content_type"


@pytest.fixture(scope="module")
def small_limit(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """A server whose imports may be at most 20,000 bytes (and other requests 16,384)."""
    with serve_idle(sqlite_template, tmp_path_factory, Settings(max_import_bytes=20_000,
                                                                max_body_bytes=16_384)) as served:
        yield served


def test_the_import_size_limit_is_honoured(small_limit: ServedApp, db: Database, people: object) -> None:
    small_limit.serve(db)
    try:
        with Api(small_limit.url, people.finance) as finance:  # type: ignore[attr-defined]
            fits = finance.post("/v1/imports", **_multipart(small_book(90)))   # ~18 kB: over the API's own 16 kB
            assert fits.status_code == 200, fits.text
            big = finance.post("/v1/imports", **_multipart(small_book(150)))
            assert big.status_code == 413 and big.json()["code"] == "http.too_large"
            assert big.json()["details"]["max_bytes"] == 20_000
    finally:
        small_limit.idle()
