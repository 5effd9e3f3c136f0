"""Mentions and DMs go to the agent, one conversation per Slack thread, answered in the thread; unknown people are
refused; retries never answer twice; the agent's money moves wait for the asker's Confirm."""

from __future__ import annotations

import json
import time

from domain.services import invoicing
from evals._seed import PEOPLE
from tests.fakes.slack_api import TEAM, block_text
from tests.slack.conftest import GENERAL, SlackClient


def test_a_mention_asking_status_gets_a_threaded_reply_citing_the_audit(slack: SlackClient) -> None:
    r, ts = slack.mention("UFIN", "status of Acme's March invoice")
    assert r.status_code == 200 and r.text == ""  # acknowledged at once; the answer follows in the thread
    reply = slack.wait_reply(GENERAL, ts)[0]
    assert reply["thread_ts"] == ts and reply["channel"] == GENERAL
    assert "Acme GmbH" in reply["text"] and "pending approval" in reply["text"]
    assert "From the audit log" in reply["text"] and "(entry #" in reply["text"]
    # the same Slack thread is the same conversation: a follow-up in it is answered in it
    _, ts2 = slack.mention("UFIN", "what's overdue?", thread_ts=ts)
    follow = slack.wait_reply(GENERAL, ts, n=2)[1]
    assert "INV-2026-000001" in follow["text"] and ts2 != ts


def test_a_direct_message_is_answered_in_the_dm(slack: SlackClient) -> None:
    ts = f"{time.time():.6f}"
    r = slack.event({"type": "message", "channel_type": "im", "channel": "DFIN", "user": "UFIN",
                     "text": "what's overdue?", "ts": ts})
    assert r.status_code == 200
    reply = slack.fake.wait_for(lambda: slack.fake.posts("DFIN"))[0]
    assert "INV-2026-000001" in reply["text"] and reply["thread_ts"] is None
    # our own messages and edits are not for the agent
    slack.event({"type": "message", "channel_type": "im", "channel": "DFIN", "bot_id": "BBOT", "text": "hi",
                 "ts": f"{time.time():.6f}"})
    time.sleep(0.3)
    assert len(slack.fake.posts("DFIN")) == 1


def test_a_replayed_event_gets_one_reply(slack: SlackClient) -> None:
    r, ts = slack.mention("UFIN", "what's overdue?", event_id="EvREPLAY1")
    again, _ = slack.mention("UFIN", "what's overdue?", ts=ts, event_id="EvREPLAY1",
                             headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    dup, _ = slack.mention("UFIN", "what's overdue?", ts=ts, event_id="EvREPLAY1")
    assert r.status_code == again.status_code == dup.status_code == 200
    slack.wait_reply(GENERAL, ts)
    time.sleep(0.5)  # time for a second reply, were there one
    assert len(slack.replies(GENERAL, ts)) == 1
    assert len([c for c in slack.fake.called("chat.postMessage") if c.args.get("thread_ts") == ts]) == 1


def test_unknown_and_deactivated_people_are_refused_and_see_no_billing_data(slack: SlackClient) -> None:
    for user in ("USTRANGER", "UNOBODY", "UGONE"):
        _, ts = slack.mention(user, "what's overdue?")
        reply = slack.wait_reply(GENERAL, ts)[0]
        assert reply["text"].startswith("Sorry, I can't help with billing here")
        assert "INV-" not in reply["text"] and "EUR" not in reply["text"]
    # deactivated in billable: refused too, even though Slack knows their e-mail
    from domain.model.roles import Actor
    from domain.services import users

    users.set_active(slack.books.db.uow(), Actor.system("tests"), PEOPLE["viewer"][0], False)
    _, ts = slack.mention("UVIEWER", "what's overdue?")
    assert "isn't linked to an active billable user" in slack.wait_reply(GENERAL, ts)[0]["text"]


def test_an_explicit_link_maps_a_slack_user_whose_email_differs(slack: SlackClient) -> None:
    from domain.model.roles import Actor
    from domain.services import slack as slack_links

    slack.fake.add_user("UALIAS", "tom@personal.example")
    slack_links.link_slack_user(slack.books.db.uow(), Actor.system("tests"), "UALIAS", "fin@books.example")
    _, ts = slack.mention("UALIAS", "what's overdue?")
    assert "INV-2026-000001" in slack.wait_reply(GENERAL, ts)[0]["text"]
    # the e-mail learnt from Slack is cached: a second message does not ask Slack again
    before = len(slack.fake.called("users.info"))
    _, ts = slack.mention("UFIN", "what's overdue?")
    slack.wait_reply(GENERAL, ts)
    _, ts = slack.mention("UFIN", "what needs approval?")
    slack.wait_reply(GENERAL, ts)
    assert len(slack.fake.called("users.info")) == before + 1


def test_a_write_waits_for_the_askers_confirm_with_server_computed_amounts(slack: SlackClient) -> None:
    acme = slack.books.ids["acme_march"]
    _, ts = slack.mention("UFIN", "approve Acme's March invoice")
    prompt = slack.wait_reply(GENERAL, ts)[0]
    shown = block_text(prompt["blocks"])
    assert "Approve and issue draft #5 for Acme GmbH" in shown and "8,984.50 EUR" in shown
    buttons = {e["action_id"]: e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"action_confirm", "action_cancel"}
    assert invoicing.get_invoice(slack.books.db.uow(), slack.books.actor("finance"), acme).status == \
        "pending_approval"
    # someone else clicking Confirm is told it is not theirs; nothing happens
    slack.click("UFIN2", "action_confirm", buttons["action_confirm"]["value"], prompt)
    assert "Only the person who asked" in slack.wait_ephemeral("UFIN2")[0]["text"]
    assert invoicing.get_invoice(slack.books.db.uow(), slack.books.actor("finance"), acme).status == \
        "pending_approval"
    # the asker confirms: done as them, the prompt loses its buttons, the result is posted in the thread
    slack.click("UFIN", "action_confirm", buttons["action_confirm"]["value"], prompt)
    done = slack.wait_reply(GENERAL, ts, n=2)[1]
    assert "INV-2026-000005" in done["text"]
    updated = slack.fake.message(GENERAL, prompt["ts"])
    assert "Confirmed by <@UFIN>" in block_text(updated["blocks"])
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]
    inv = invoicing.get_invoice(slack.books.db.uow(), slack.books.actor("finance"), acme)
    assert inv.status == "issued" and inv.number == "INV-2026-000005"
    # a second click on the old prompt changes nothing
    slack.click("UFIN", "action_confirm", buttons["action_confirm"]["value"], prompt)
    assert "no longer waiting" in slack.wait_ephemeral("UFIN")[0]["text"]


def test_cancel_does_nothing(slack: SlackClient) -> None:
    _, ts = slack.mention("UFIN", "void INV-2026-000003 because duplicate")
    prompt = slack.wait_reply(GENERAL, ts)[0]
    value = next(e["value"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert json.loads(value)["k"] == f"{TEAM}:{GENERAL}:{ts}"
    slack.click("UFIN", "action_cancel", value, prompt)
    slack.wait_reply(GENERAL, ts, n=2)
    assert "Cancelled by <@UFIN>" in block_text(slack.fake.message(GENERAL, prompt["ts"])["blocks"])
    inv = invoicing.get_invoice(slack.books.db.uow(), slack.books.actor("finance"), slack.books.ids["globex_february"])
    assert inv.status == "issued"
