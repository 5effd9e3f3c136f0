"""Completing HubSpot's webhook events from its CRM API: a webhook says only "deal 123's stage is now X".

For each candidate we read the deal (name, pipeline, amount, currency, associated company and contact), the
pipeline (its label, and whether the stage is a won one: closed with probability 1), the company's name and the
contact's e-mail. Pipelines are cached for five minutes. Without a token (BILLABLE_HUBSPOT_TOKEN) only the default
pipeline's `closedwon` stage counts as won and the client is named after the deal id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.services.events import Incoming

PROPS = "dealname,pipeline,dealstage,amount,deal_currency_code,closedate"


class SourceUnavailable(Exception):
    """The provider's API did not answer: the delivery is refused with 503 so the provider sends it again."""


@dataclass
class HubSpotApi:
    base_url: str
    token: str | None
    timeout: float = 5.0
    _pipelines: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    async def _get(self, client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            r = await client.get(self.base_url.rstrip("/") + path, params=params,
                                 headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise SourceUnavailable(f"HubSpot's API did not answer ({type(e).__name__})") from None
        if r.status_code >= 400:
            raise SourceUnavailable(f"HubSpot's API answered {r.status_code} for {path}")
        return r.json()

    async def _pipeline(self, client: httpx.AsyncClient, pipeline_id: str) -> dict[str, Any]:
        hit = self._pipelines.get(pipeline_id)
        if hit and time.monotonic() - hit[0] < 300:
            return hit[1]
        data: dict[str, Any] = await self._get(client, f"/crm/v3/pipelines/deals/{pipeline_id}")
        self._pipelines[pipeline_id] = (time.monotonic(), data)
        return data

    async def complete(self, items: list[Incoming]) -> tuple[list[Incoming], int]:
        """Candidates made into `deal.won` events (or dropped when the stage is not won); (items, dropped)."""
        out: list[Incoming] = []
        dropped = 0
        async with httpx.AsyncClient() as client:
            for it in items:
                h = it.data.get("_hubspot") if it.error is None else None
                if h is None:
                    out.append(it)
                    continue
                data = await self._deal_won(client, h, it)
                if data is None:
                    dropped += 1
                    continue
                out.append(Incoming(it.event_id, "deal.won", data, it.occurred_at))
        return out, dropped

    async def _deal_won(self, client: httpx.AsyncClient, h: dict[str, Any], it: Incoming) -> dict[str, Any] | None:
        deal_id, stage = str(h["deal_id"]), str(h["stage"])
        won_on = (it.occurred_at.date() if it.occurred_at else None)
        base = {"deal_ref": f"hubspot:deal:{deal_id}", "won_on": won_on.isoformat() if won_on else None}
        if not self.token:
            if stage != "closedwon":
                return None
            return {**base, "client_ref": f"hubspot:deal:{deal_id}", "client_name": f"HubSpot deal {deal_id}",
                    "pipeline": "default"}
        deal = await self._get(client, f"/crm/v3/objects/deals/{deal_id}",
                               {"properties": PROPS, "associations": "companies,contacts"})
        props = deal.get("properties") or {}
        pipeline = await self._pipeline(client, str(props.get("pipeline") or "default"))
        meta = next((s.get("metadata") or {} for s in pipeline.get("stages", []) if s.get("id") == stage), {})
        if str(meta.get("isClosed")).lower() != "true" or str(meta.get("probability")) not in ("1.0", "1"):
            return None
        assoc = deal.get("associations") or {}
        companies = [r["id"] for r in (assoc.get("companies") or {}).get("results", [])]
        contacts = [r["id"] for r in (assoc.get("contacts") or {}).get("results", [])]
        name = props.get("dealname") or f"HubSpot deal {deal_id}"
        client_ref = f"hubspot:deal:{deal_id}"
        if companies:
            company = await self._get(client, f"/crm/v3/objects/companies/{companies[0]}", {"properties": "name"})
            name = (company.get("properties") or {}).get("name") or name
            client_ref = f"hubspot:company:{companies[0]}"
        email = None
        if contacts:
            contact = await self._get(client, f"/crm/v3/objects/contacts/{contacts[0]}", {"properties": "email"})
            email = (contact.get("properties") or {}).get("email")
        return {**base, "client_ref": client_ref, "client_name": name, "pipeline": pipeline.get("label", ""),
                "amount": props.get("amount") or None, "currency": props.get("deal_currency_code") or None,
                "contact_email": email}
