"""The hosted invoice page over real HTTP: no login, an unguessable token; staff views do not count, the first
public view marks the invoice viewed (audited), the second changes nothing."""

from __future__ import annotations

import pytest

from domain.services import documents, invoicing
from tests.documents.conftest import issued_full
from tests.documents.test_render import pdf_text
from tests.services.conftest import World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server"]


def test_staff_view_does_not_count_first_public_view_does_second_does_not(world: World, as_user: Clients) -> None:
    inv = issued_full(world)
    link = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")
    token = link["token"]
    assert link["url"].endswith(f"/i/{token}") and len(token) >= 40
    assert as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")["token"] == token  # stable

    r = as_user.finance.get(f"/i/{token}")  # staff, logged in
    assert r.status_code == 200 and inv.number is not None and inv.number in r.text
    assert world.call(invoicing.get_invoice, world.system, inv.id).status == "issued"
    assert "invoice.viewed" not in world.audit_actions("invoice", inv.id)

    r = as_user.anonymous.get(f"/i/{token}")  # the client
    assert r.status_code == 200 and "Offener Betrag" in r.text and f"/i/{token}/pdf" in r.text  # de_DE: German
    assert "PDF herunterladen" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert world.call(invoicing.get_invoice, world.system, inv.id).status == "viewed"
    assert world.audit_actions("invoice", inv.id).count("invoice.viewed") == 1

    assert as_user.anonymous.get(f"/i/{token}").status_code == 200  # again: nothing more
    pdf = as_user.anonymous.get(f"/i/{token}/pdf")
    assert pdf.status_code == 200 and inv.number in pdf_text(pdf.content)
    assert world.audit_actions("invoice", inv.id).count("invoice.viewed") == 1

    assert as_user.anonymous.get("/i/" + "x" * 43).status_code == 404
    assert as_user.anonymous.get(f"/i/{token[:-1]}").status_code == 404


def test_a_draft_has_no_hosted_page_and_a_paid_invoice_stays_paid(world: World) -> None:
    from domain.errors import BadTransition

    draft = world.draft(world.retainer_client())
    with pytest.raises(BadTransition) as e:
        world.call(documents.hosted_token, world.system, draft.id)
    assert e.value.code == "invoice.not_issued"
    inv = issued_full(world)
    world.call(invoicing.record_payment, world.actor("finance"), inv.id, inv.total, inv.issue_date)
    token = world.call(documents.hosted_token, world.system, inv.id)
    doc = world.call(documents.open_hosted, token, None)
    assert doc.invoice.status == "paid"
    assert world.audit_actions("invoice", inv.id).count("invoice.viewed") == 1  # recorded, status kept


def test_hosted_links_need_the_issuing_permission_are_audited_stored_hashed_and_revocable(
        world: World, as_user: Clients) -> None:
    from sqlalchemy import text

    inv = issued_full(world)
    for role in ("viewer", "account_manager", "contractor"):   # a viewer could mint one before
        r = getattr(as_user, role).post(f"/v1/invoices/{inv.id}/hosted-link")
        assert r.status_code in (403, 404), (role, r.status_code)
    assert "invoice.link_shared" not in world.audit_actions("invoice", inv.id)
    token = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")["token"]
    assert world.audit_actions("invoice", inv.id).count("invoice.link_shared") == 1
    with world.db.engine.connect() as conn:   # only a hash of the token is kept
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM invoice_delivery")).all() for v in row)
    assert token not in stored
    assert as_user.anonymous.get(f"/i/{token}").status_code == 200
    # finance revokes it: the old link is dead, a new one works, both audited
    assert as_user.viewer.post(f"/v1/invoices/{inv.id}/hosted-link/revoke").status_code == 403
    revoked = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link/revoke")
    assert revoked["invoice_id"] == inv.id and "invoice.link_revoked" in world.audit_actions("invoice", inv.id)
    assert as_user.anonymous.get(f"/i/{token}").status_code == 404
    fresh = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")["token"]
    assert fresh != token and as_user.anonymous.get(f"/i/{fresh}").status_code == 200


def test_a_void_invoice_page_says_void_and_asks_for_no_payment(world: World, as_user: Clients) -> None:
    inv = issued_full(world)
    token = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")["token"]
    world.call(invoicing.void_invoice, world.actor("finance"), inv.id, "issued by mistake")
    page = as_user.anonymous.get(f"/i/{token}").text
    assert "VOID" in page or "STORNIERT" in page.upper()
    assert "Offener Betrag" not in page and "Balance due" not in page and "Bitte zahlen" not in page


def test_hosted_links_are_redacted_in_the_access_log() -> None:
    import logging

    from channels.http.app import RedactHostedLinks

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/i/AbCdEf123-_xyz/pdf?x=1", "1.1", 200), None)
    assert RedactHostedLinks().filter(record)
    assert "AbCdEf123" not in record.getMessage() and "/i/[redacted]/pdf" in record.getMessage()
