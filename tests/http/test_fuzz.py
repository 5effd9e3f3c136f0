"""Schemathesis over our OpenAPI document, against a served instance (uvicorn on 127.0.0.1, real HTTP) on each
database: every operation, as an owner and as a contractor, with a fixed seed and a bounded number of cases, checked
for server errors and for responses that do not match their documented schema. Zero failures.

`make test` runs a few cases per operation (BILLABLE_FUZZ_CASES, default 2); `make fuzz` runs many more and prints
how many it tried (the counts are written to artifacts/fuzz.json, and `make reliability` reports them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from channels.http import create_app
from domain.model.roles import Actor, Role
from domain.services import users
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.store.clock import FixedClock
from tests.conftest import open_database
from tests.support.server import LiveServer

CASES = int(os.environ.get("BILLABLE_FUZZ_CASES", "2"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# Operations whose effect would end the run's own authority (the owner rotating away their own token, deactivating
# themselves): still fuzzed, but as the contractor only, who is refused them.
OWNER_SKIPS = {"POST /v1/users/{email}/token", "PATCH /v1/users/{email}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           sqlite_template: Path) -> Iterator[tuple[str, str, dict[Role, str]]]:
    """The demo books on a live server; the API tokens of the owner and the contractor."""
    from datetime import UTC, datetime

    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = open_database(request.param, tmp_path_factory.mktemp("fuzz"), sqlite_template, pg,
                       FixedClock(datetime(2026, 4, 1, 9, 0, tzinfo=UTC)))
    system = Actor.system("fuzz")
    load_demo(db.uow(), system)
    tokens = {role: users.rotate_token(db.uow(), system, DEMO_EMAILS[role]) for role in (Role.OWNER,
                                                                                          Role.CONTRACTOR)}
    server = LiveServer(create_app(db))
    url = server.start()
    try:
        yield request.param, url, tokens
    finally:
        server.stop()
        db.dispose()


def _fuzz(url: str, token: str, role: Role) -> tuple[int, int, list[str]]:
    """(operations, cases tried, failures) of one role's run over every operation."""
    # Fetched by us (a loaded machine can take longer than Schemathesis's own 10 s to build the document).
    schema = schemathesis.openapi.from_dict(httpx.get(url + "/openapi.json", timeout=120).json())
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    tried = 0
    operations = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        if role == Role.OWNER and label in OWNER_SKIPS:
            continue
        operations += 1

        @settings(max_examples=CASES, derandomize=True, deadline=None, database=None, print_blob=False,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            nonlocal tried
            tried += 1
            response = case.call(base_url=url, session=session, timeout=60)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as e:  # one operation's failure is reported with the others, not on its own
            failures.append(f"{role.value} {label}: {type(e).__name__}: {str(e)[:1500]}")
    session.close()
    return operations, tried, failures


@pytest.mark.reliability
def test_the_fuzzer_finds_no_server_error_and_no_response_off_its_schema(
        served: tuple[str, str, dict[Role, str]]) -> None:
    backend, url, tokens = served
    started = time.monotonic()
    report: dict[str, Any] = {"backend": backend, "cases_per_operation": CASES, "roles": {}}
    failures: list[str] = []
    for role in (Role.CONTRACTOR, Role.OWNER):
        operations, tried, failed = _fuzz(url, tokens[role], role)
        report["roles"][role.value] = {"operations": operations, "cases": tried, "failures": len(failed)}
        failures += failed
        assert operations >= 30 and tried >= operations  # every operation was tried at least once
    report["seconds"] = round(time.monotonic() - started, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"fuzz-{backend}.json").write_text(json.dumps(report, indent=2))
    assert failures == [], "\n\n".join(failures)
