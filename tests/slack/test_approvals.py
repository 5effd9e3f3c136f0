"""Approval cards: a flagged invoice becomes a card in the approvals channel; a click approves or rejects it as the
clicking person; the card is updated in place whoever decides and through whichever door."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from domain.services import invoicing
from domain.store.tables import AuditRow, OutboxRow
from tests.fakes.slack_api import block_text
from tests.slack.conftest import APPROVALS, SlackClient


def _approved_entries(slack: SlackClient, invoice_id: int) -> int:
    with slack.books.db.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.action == "invoice.approved", AuditRow.subject_id == str(invoice_id))).scalar_one())


def _status(slack: SlackClient, invoice_id: int) -> str:
    return invoicing.get_invoice(slack.books.db.uow(), slack.books.actor("owner"), invoice_id).status


def test_a_flagged_invoice_gets_a_card_finance_approves_it_is_issued_and_the_card_updated(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    card = slack.card(acme)
    shown = block_text(card["blocks"])
    assert "Acme GmbH" in shown and "8,984.50 EUR" in shown and "2026-03-01 – 2026-03-31" in shown
    assert "*deviation*: total changed 51.0%" in shown and "*manual_lines*" in shown  # each flag and why
    assert "Onsite visit" in shown and "(manual)" in shown  # the lines
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Reject"]
    r = slack.click("UFIN", "invoice_approve", str(acme), card)
    assert r.status_code == 200
    updated = slack.fake.wait_for(lambda: (m := slack.fake.message(APPROVALS, card["ts"])).get("edited") and m)
    text = block_text(updated["blocks"])
    assert "Approved by fin@books.example at 2026-04-01 09:00 UTC" in text and "INV-2026-000005" in text
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]  # no buttons left
    assert _status(slack, acme) == "issued"
    assert len(slack.fake.called("chat.update")) == 1


def test_an_account_manager_clicking_approve_is_refused_and_nothing_changes(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    card = slack.card(acme)
    slack.click("UAM", "invoice_approve", str(acme), card)
    refusal = slack.wait_ephemeral("UAM")[0]
    assert refusal["text"].startswith("Only finance or an owner can approve") and refusal["channel"] == APPROVALS
    slack.click("UAM", "invoice_reject", str(acme), card)  # nor reject: no modal for them
    assert "Only finance or an owner" in slack.wait_ephemeral("UAM", n=2)[1]["text"]
    assert _status(slack, acme) == "pending_approval" and _approved_entries(slack, acme) == 0
    assert slack.fake.views == [] and not slack.fake.message(APPROVALS, card["ts"]).get("edited")


def test_a_double_click_makes_one_decision(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    card = slack.card(acme)
    clicks = [threading.Thread(target=slack.click, args=("UFIN", "invoice_approve", str(acme), card))
              for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    said = slack.wait_ephemeral("UFIN")[0]["text"]
    assert said == f"Draft #{acme} was already decided (it is issued as INV-2026-000005); nothing was changed."
    slack.fake.wait_for(lambda: slack.fake.message(APPROVALS, card["ts"]).get("edited"))
    assert _approved_entries(slack, acme) == 1 and _status(slack, acme) == "issued"
    # a click on the decided card later says so, and changes nothing
    slack.click("UOWNER", "invoice_approve", str(acme), card)
    assert "already decided" in slack.wait_ephemeral("UOWNER")[0]["text"]
    assert _approved_entries(slack, acme) == 1


def test_reject_opens_a_modal_for_the_reason_then_rejects(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    card = slack.card(acme)
    slack.click("UFIN", "invoice_reject", str(acme), card)
    view = slack.fake.wait_for(lambda: slack.fake.views)[0]["view"]
    assert view["callback_id"] == "invoice_reject_reason" and view["blocks"][0]["block_id"] == "reason"
    submission = {"type": "view_submission", "team": {"id": "T0BILLABLE"}, "user": {"id": "UFIN"},
                  "view": {**view, "id": "V1", "state": {"values": {"reason": {"reason_input": {
                      "type": "plain_text_input", "value": ""}}}}}}
    r = slack.interact(submission)  # a blank reason: the modal says why and stays open
    assert r.json() == {"response_action": "errors", "errors": {"reason": "Say why it is rejected."}}
    submission["view"]["state"]["values"]["reason"]["reason_input"]["value"] = "the onsite visit was free"
    assert slack.interact(submission).status_code == 200
    updated = slack.fake.wait_for(lambda: (m := slack.fake.message(APPROVALS, card["ts"])).get("edited") and m)
    assert "Rejected by fin@books.example" in block_text(updated["blocks"])
    assert "the onsite visit was free" in block_text(updated["blocks"])
    assert _status(slack, acme) == "draft"


def test_a_decision_taken_elsewhere_updates_the_card(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    card = slack.card(acme)
    invoicing.approve_invoice(slack.books.db.uow(), slack.books.actor("finance2"), acme, note="via the API")
    updated = slack.fake.wait_for(lambda: (m := slack.fake.message(APPROVALS, card["ts"])).get("edited") and m)
    assert "Approved by fin2@books.example" in block_text(updated["blocks"])


def test_every_path_that_flags_an_invoice_asks_for_approval_once(slack: SlackClient) -> None:
    with slack.books.db.uow() as uow:
        topics = uow.session.execute(select(OutboxRow.topic, OutboxRow.payload)).all()
    asked = [p["invoice_id"] for t, p in topics if t == "approval.requested"]
    # the seed issued five invoices through the service; every one was flagged first (first invoice, deviation),
    # and each flagging asked once; March's Acme is the one still waiting
    assert len(asked) == len(set(asked)) and slack.books.ids["acme_march"] in asked
    slack.card(slack.books.ids["acme_march"])
    assert len([m for m in slack.fake.posts(APPROVALS) if "needs approval" in block_text(m["blocks"])]) == 1
