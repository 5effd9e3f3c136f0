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
