"""Process settings, read from BILLABLE_* environment variables (or a .env file). The embedded default
needs none: SQLite in the working directory, in-process worker, offline interpreter."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
LOCAL_AUDIT_KEY_ID = "local"  # the key the embedded default generates for itself (never in production)
# Sources signed the Standard Webhooks way: their secrets are whsec_ + base64 of the key.
WHSEC_SOURCES = ("billable", "harvest")


def whsec_key(secret: str) -> bytes:
    """The key of a Standard Webhooks secret (`whsec_` + base64)."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLABLE_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///billable.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = DEV_SECRET
    # The audit log's HMAC key (32+ characters), held outside the database; entries record the id of the key that
    # signed them. Rotation: move the current key into audit_old_keys under its id, then set a new key and id.
    # Unset (development only): a key generated once into audit_key_file (default ~/.config/billable/audit.key).
    audit_key: SecretStr | None = None
    audit_key_id: str = Field(default="1", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    audit_old_keys: dict[str, SecretStr] = Field(default_factory=dict)  # JSON: {"1": "<old key>", ...}
    audit_key_file: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # The largest request body the HTTP server reads (bytes); a larger one is refused with 413 before parsing.
    max_body_bytes: int = Field(default=1_048_576, ge=16_384, le=1_073_741_824)
    # A book import (POST /v1/imports, the dashboard's import page) may be larger than other requests: 5,000
    # clients with their arrangements and time are about 2 MB of CSV.
    max_import_bytes: int = Field(default=20_971_520, ge=16_384, le=1_073_741_824)
    # Inbound events (issue 4). A secret per source: {"billable": "whsec_...", "hubspot": "<app client secret>",
    # "jira": "...", "toggl": "...", "harvest": "whsec_..."} (several, space-separated, while rotating); a source
    # without one is refused (404). HubSpot deal details come from its CRM API with a private-app token.
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    hubspot_token: SecretStr | None = None
    hubspot_api_url: str = "https://api.hubapi.com"
    rules_file: str | None = None  # YAML rules, loaded by `billable serve` and `billable worker` when changed
    worker: Literal["embedded", "off"] = "embedded"  # `billable serve` runs the worker and the tick in-process
    notify_url: str | None = None  # outbox notifications are POSTed here, signed; unset -> written to the log
    notify_secret: SecretStr | None = None  # whsec_... for those notifications
    # The chat agent's model: any OpenAI-compatible endpoint. Unset -> the offline interpreter (no network).
    model: str | None = None  # e.g. gpt-4o-mini, or the name a vLLM / Ollama / LM Studio server serves
    model_base_url: str | None = None  # e.g. http://127.0.0.1:11434/v1 (unset: OpenAI's own endpoint)
    model_api_key: SecretStr | None = None  # local servers usually accept any value
    # Documents and delivery (issue 7). Templates: <dir>/invoice.html.j2 for the workspace,
    # <dir>/clients/<client id>/invoice.html.j2 for one client; unset -> the built-in template.
    templates_dir: str | None = None
    payment_instructions: str = ""  # printed on every invoice (bank details); empty -> a generic sentence
    smtp_host: str | None = None  # unset -> invoices are not e-mailed
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "billing@localhost"
    smtp_timeout: float = 10.0
    bounce_secret: SecretStr | None = None  # HMAC-SHA256 key of POST /v1/email/bounces; unset -> refused
    # Slack (issue 6): the app is mounted at /slack/* when the bot token, the signing secret and the approvals
    # channel are set; notifications go to the notify channel (unset: the approvals channel).
    slack_bot_token: SecretStr | None = None  # xoxb-...
    slack_signing_secret: SecretStr | None = None  # Basic Information > App Credentials > Signing Secret
    slack_approvals_channel: str | None = None  # channel id (C...) where approval cards are posted
    slack_notify_channel: str | None = None  # channel id for delivery failures, dead events, payments, overdue
    slack_api_url: str = "https://slack.com/api/"  # the Web API base (tests point it at a local fake)
    slack_app_token: SecretStr | None = None  # xapp-...: Socket Mode, for workspaces that cannot expose a URL

    # QuickBooks Online (issue 16). The Intuit app's keys (developer.intuit.com > your app > Keys & credentials);
    # the redirect URI registered there (unset: <public_url>/app/accounting/quickbooks/callback). The environment is
    # sandbox, production, or the URL of an OpenID discovery document (tests point it at a local server); the API
    # base URL follows the environment unless set. Tokens are stored encrypted with accounting_token_key (a Fernet
    # key: `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`).
    quickbooks_client_id: str | None = None
    quickbooks_client_secret: SecretStr | None = None
    quickbooks_redirect_uri: str | None = None
    quickbooks_environment: str = "sandbox"
    quickbooks_api_url: str | None = None  # e.g. https://quickbooks.api.intuit.com (unset: from the environment)
    quickbooks_webhook_verifier_token: SecretStr | None = None  # app > Webhooks > Verifier token
    quickbooks_minor_version: int = Field(default=75, ge=75)
    # The longest a push waits after a 429 or a 5xx before trying again (Intuit asks for 60 s after a 429).
    quickbooks_max_wait_seconds: float = Field(default=60.0, ge=0.0, le=600.0)
    accounting_token_key: SecretStr | None = None

    def quickbooks_missing(self) -> list[str]:
        """The Intuit app settings still to set before a company can be connected (the token key is checked when
        tokens are stored, with its own message)."""
        need = {"BILLABLE_QUICKBOOKS_CLIENT_ID": self.quickbooks_client_id,
                "BILLABLE_QUICKBOOKS_CLIENT_SECRET": self.quickbooks_client_secret}
        return [name for name, value in need.items() if not value]

    def quickbooks_redirect(self) -> str:
        """The OAuth redirect URI (registered in the Intuit app)."""
        return self.quickbooks_redirect_uri or self.public_url.rstrip("/") + "/app/accounting/quickbooks/callback"

    def quickbooks_base_url(self) -> str:
        """The v3 API's base (without /v3)."""
        if self.quickbooks_api_url:
            return self.quickbooks_api_url.rstrip("/")
        if self.quickbooks_environment.lower() in ("production", "prod"):
            return "https://quickbooks.api.intuit.com"
        return "https://sandbox-quickbooks.api.intuit.com"

    def slack_missing(self) -> list[str]:
        """The Slack settings still to set before the Slack app can run (empty: it can)."""
        need = {"BILLABLE_SLACK_BOT_TOKEN": self.slack_bot_token, "BILLABLE_SLACK_SIGNING_SECRET":
                self.slack_signing_secret, "BILLABLE_SLACK_APPROVALS_CHANNEL": self.slack_approvals_channel}
        return [name for name, value in need.items() if not value]

    @field_validator("webhook_secrets")
    @classmethod
    def _whsec_secrets_are_base64(cls, secrets: dict[str, str]) -> dict[str, str]:
        # Checked at start-up: a malformed secret would otherwise surface as a 500 on the first delivery.
        for source in WHSEC_SOURCES:
            for secret in (secrets.get(source) or "").split():
                try:
                    ok = secret.startswith("whsec_") and bool(whsec_key(secret))
                except ValueError:
                    ok = False
                if not ok:
                    raise ValueError(f"the {source!r} secret must be whsec_ followed by base64 (e.g. `python -c "
                                     "'import base64,secrets; print(\"whsec_\" + base64.b64encode("
                                     "secrets.token_bytes(32)).decode())'`)")
        return secrets

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("BILLABLE_SECRET_KEY must be set to a random string of 32+ characters in "
                                 "production (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
            key = self.audit_key.get_secret_value() if self.audit_key else ""
            if len(key) < 32 or key in (DEV_SECRET, self.secret_key):
                raise ValueError("BILLABLE_AUDIT_KEY must be set in production to its own random string of 32+ "
                                 "characters (it signs the audit log; keep it outside the database), e.g. `python "
                                 "-c 'import secrets; print(secrets.token_urlsafe(48))'`; see README 'Audit log'")
            if self.audit_key_id == LOCAL_AUDIT_KEY_ID or self.audit_key_id in self.audit_old_keys:
                raise ValueError(f"BILLABLE_AUDIT_KEY_ID {self.audit_key_id!r} is reserved or already used by a "
                                 "retired key in BILLABLE_AUDIT_OLD_KEYS: give the new key a new id")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set BILLABLE_DATABASE_URL=postgresql://...")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
