"""QuickBooks tokens at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under
BILLABLE_ACCOUNTING_TOKEN_KEY, so a copy of the database alone grants no access to the books."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from domain.errors import BillingError
from domain.settings import Settings

KEY_HINT = ("set BILLABLE_ACCOUNTING_TOKEN_KEY to a Fernet key, e.g. `python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'` (keep it outside the database; see README 'Connecting "
            "QuickBooks')")


class TokenKeyError(BillingError):
    """The token key is missing, malformed, or not the one the stored tokens were encrypted with."""

    code = "accounting.token_key"
    status = 409


class TokenCipher:
    """Encrypts and decrypts tokens with the settings' key; refuses clearly when the key is missing or wrong."""

    def __init__(self, settings: Settings) -> None:
        key = settings.accounting_token_key.get_secret_value() if settings.accounting_token_key else ""
        if not key:
            raise TokenKeyError("QuickBooks tokens cannot be stored: " + KEY_HINT, field="accounting_token_key")
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise TokenKeyError("BILLABLE_ACCOUNTING_TOKEN_KEY is not a Fernet key (32 url-safe base64 bytes): "
                                + KEY_HINT, field="accounting_token_key") from None

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode() if token else ""

    def decrypt(self, ciphertext: str) -> str:
        if not ciphertext:
            return ""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenKeyError("the stored QuickBooks tokens do not decrypt with BILLABLE_ACCOUNTING_TOKEN_KEY (was "
                                "the key changed?): reconnect QuickBooks", field="accounting_token_key") from None
