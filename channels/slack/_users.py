"""Who is talking: a Slack user becomes one of our users, by an explicit link (`billable users slack-link`) or by
the e-mail Slack has for them (users.info, cached for a day in the database). Anyone else, and anyone deactivated
here or in Slack, is politely refused and sees nothing of the books."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from domain.errors import ValidationFailed
from domain.model.roles import Actor
from domain.services import slack as slack_links
from domain.services import users
from domain.store.session import Database

log = logging.getLogger("billable.slack")

UNKNOWN = ("Sorry, I can't help with billing here: your Slack account isn't linked to an active billable user. "
           "Ask an owner to add you with your Slack e-mail (`billable users add EMAIL --role ROLE`) or to link you "
           "(`billable users slack-link {user} EMAIL`).")
DEACTIVATED = "Sorry, I can't help with billing here: your Slack account is deactivated."


class Refused(Exception):
    """The person is not someone billable knows (or no longer); the message says so politely."""


def actor_for(db: Database, client: WebClient, team_id: str, user_id: str) -> Actor:
    """The billable actor behind a Slack user, or Refused."""
    link = slack_links.linked_user(db.uow(), team_id, user_id)
    email = link.email if link is not None else None
    if link is None or not link.fresh:
        try:
            info = client.users_info(user=user_id)
        except SlackApiError as e:
            log.warning("users.info for %s failed: %s", user_id, e.response.get("error") if e.response else e)
            if email is None:  # nothing known about them, and Slack would not say: refuse, never guess
                raise Refused(UNKNOWN.format(user=user_id)) from None
        else:
            user = info.get("user") or {}
            if user.get("deleted"):
                raise Refused(DEACTIVATED)
            found = (user.get("profile") or {}).get("email")
            if found and (link is None or not link.explicit):
                slack_links.remember_email(db.uow(), team_id, user_id, found)
                email = found
    if not email:
        raise Refused(UNKNOWN.format(user=user_id))
    try:
        return users.actor_by_email(db.uow(), email)
    except ValidationFailed:
        raise Refused(UNKNOWN.format(user=user_id)) from None
