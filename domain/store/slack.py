"""Slack bookkeeping rows (issue 6): deliveries seen, approval cards posted, Slack users linked to ours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from domain.store.tables import SlackCardRow, SlackDeliveryRow, SlackUserRow


class SlackStore:
    def __init__(self, session: Session) -> None:
        self.s = session

    def first_time(self, key: str, now: datetime) -> bool:
        """Record a delivery key; False when it was recorded before (by any process)."""
        ins = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        # RETURNING, not rowcount: the drivers do not agree on rowcount after ON CONFLICT DO NOTHING
        inserted = self.s.execute(ins(SlackDeliveryRow).values(key=key, received_at=now)
                                  .on_conflict_do_nothing(index_elements=["key"])
                                  .returning(SlackDeliveryRow.key)).scalar_one_or_none()
        return inserted is not None

    def forget_deliveries(self, before: datetime) -> int:
        result = self.s.execute(delete(SlackDeliveryRow).where(SlackDeliveryRow.received_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    def card(self, message_key: str) -> SlackCardRow | None:
        return self.s.get(SlackCardRow, message_key)

    def cards_for(self, invoice_id: int) -> list[SlackCardRow]:
        return list(self.s.execute(select(SlackCardRow).where(SlackCardRow.invoice_id == invoice_id)
                                   .order_by(SlackCardRow.posted_at)).scalars())

    def add_card(self, row: SlackCardRow) -> None:
        self.s.add(row)

    def user(self, slack_key: str) -> SlackUserRow | None:
        return self.s.get(SlackUserRow, slack_key)

    def add_user(self, row: SlackUserRow) -> None:
        self.s.add(row)

    def learn_email(self, slack_key: str, email: str, now: datetime) -> None:
        """Insert or refresh a learnt e-mail in one statement (two first messages at once must not collide),
        never over an explicit link."""
        ins = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = ins(SlackUserRow).values(slack_key=slack_key, email=email, explicit=False, checked_at=now)
        self.s.execute(stmt.on_conflict_do_update(
            index_elements=["slack_key"], set_={"email": stmt.excluded.email, "checked_at": stmt.excluded.checked_at},
            where=SlackUserRow.explicit.is_(False)))
