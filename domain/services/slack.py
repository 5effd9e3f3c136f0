"""The Slack door's bookkeeping, as use cases (issue 6): which deliveries were already handled, where each
approval card is, and which Slack user is which of our users. Nothing here talks to Slack; channels/slack does.

Deliveries are deduplicated in the database, not in memory, so a retry that reaches another process, or this one
after a restart, is still recognised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from domain.errors import NotFound, ValidationFailed
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.store.slack import SlackStore
from domain.store.tables import SlackCardRow, SlackUserRow
from domain.store.uow import UnitOfWork

DELIVERY_TTL = timedelta(days=2)  # Slack retries within minutes; keys older than this are forgotten
EMAIL_TTL = timedelta(hours=24)  # an e-mail learnt from users.info is trusted this long, then asked again


@dataclass(frozen=True)
class Card:
    invoice_id: int
    channel: str
    ts: str


@dataclass(frozen=True)
class SlackLink:
    slack_key: str
    email: str
    explicit: bool
    fresh: bool


def slack_key(team_id: str, user_id: str) -> str:
    return f"{team_id or '-'}:{user_id}"


def first_delivery(uow: UnitOfWork, key: str) -> bool:
    """True the first time a Slack delivery key is seen, False for every retry or duplicate, across processes."""
    with uow:
        first = SlackStore(uow.session).first_time(key[:200], uow.clock.now())
        uow.commit()
    return first


def forget_old_deliveries(uow: UnitOfWork) -> int:
    with uow:
        n = SlackStore(uow.session).forget_deliveries(uow.clock.now() - DELIVERY_TTL)
        uow.commit()
    return n


def card_posted(uow: UnitOfWork, message_key: str) -> Card | None:
    """The card an outbox message already posted (a re-sent message must not post a second one)."""
    with uow:
        row = SlackStore(uow.session).card(message_key)
        return Card(row.invoice_id, row.channel, row.ts) if row is not None else None


def record_card(uow: UnitOfWork, message_key: str, invoice_id: int, channel: str, ts: str) -> None:
    with uow:
        store = SlackStore(uow.session)
        if store.card(message_key) is None:
            store.add_card(SlackCardRow(message_key=message_key, invoice_id=invoice_id, channel=channel, ts=ts,
                                        posted_at=uow.clock.now()))
        uow.commit()


def cards_for(uow: UnitOfWork, invoice_id: int) -> list[Card]:
    """Every card posted for an invoice (one per time it was flagged), oldest first."""
    with uow:
        return [Card(r.invoice_id, r.channel, r.ts) for r in SlackStore(uow.session).cards_for(invoice_id)]


def linked_user(uow: UnitOfWork, team_id: str, user_id: str) -> SlackLink | None:
    """The e-mail a Slack user maps to: an explicit link, or one learnt from Slack (`fresh` if recent)."""
    with uow:
        store = SlackStore(uow.session)
        rows = [r for r in (store.user(slack_key("", user_id)), store.user(slack_key(team_id, user_id))) if r]
        row = next((r for r in rows if r.explicit), rows[0] if rows else None)  # an explicit link wins
        if row is None:
            return None
        return SlackLink(row.slack_key, row.email, row.explicit, row.explicit or
                         uow.clock.now() - row.checked_at < EMAIL_TTL)


def remember_email(uow: UnitOfWork, team_id: str, user_id: str, email: str) -> None:
    """Cache the e-mail Slack gave for a user (never over an explicit link)."""
    with uow:
        SlackStore(uow.session).learn_email(slack_key(team_id, user_id), email.lower(), uow.clock.now())
        uow.commit()


def link_slack_user(uow: UnitOfWork, actor: Actor, slack_user: str, email: str, team_id: str = "") -> SlackLink:
    """Map a Slack user id (U...) to one of our users explicitly, whatever e-mail Slack has for them."""
    require(actor, Perm.MANAGE_USERS)
    slack_user = slack_user.strip()
    if not slack_user or not slack_user[0].isalpha() or not slack_user.isalnum():
        raise ValidationFailed("a Slack user id looks like U012AB3CD (profile > ... > Copy member ID)",
                               field="slack_user")
    with uow:
        user = uow.users.by_email(email)
        if user is None:
            raise NotFound(f"no user with e-mail {email}", code="user.not_found", field="email")
        key = slack_key(team_id, slack_user)
        store = SlackStore(uow.session)
        row = store.user(key)
        before = {"email": row.email, "explicit": row.explicit} if row is not None else None
        if row is None:
            row = SlackUserRow(slack_key=key, email=user.email, explicit=True, checked_at=uow.clock.now())
            store.add_user(row)
        else:
            row.email, row.explicit, row.checked_at = user.email, True, uow.clock.now()
        uow.audit.record(actor, "user.slack_linked", "user", user.id, before=before,
                         after={"slack_user": key, "email": user.email})
        uow.commit()
        return SlackLink(key, user.email, True, True)
