"""Settings are checked when the process starts, not when the first request needs them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.settings import Settings


@pytest.mark.parametrize("secret", ["whsec_not base64!", "not-whsec", "whsec_", "whsec_YQ== broken"])
def test_a_malformed_standard_webhooks_secret_is_refused_at_start_naming_the_source(secret: str) -> None:
    with pytest.raises(ValidationError) as e:
        Settings(webhook_secrets={"harvest": secret})
    assert "'harvest' secret must be whsec_ followed by base64" in str(e.value)


def test_well_formed_secrets_and_other_sources_own_formats_are_kept() -> None:
    s = Settings(webhook_secrets={"billable": "whsec_YQ== whsec_Yg==", "jira": "plain shared secret"})
    assert s.webhook_secrets["billable"].split() == ["whsec_YQ==", "whsec_Yg=="]
    assert s.webhook_secrets["jira"] == "plain shared secret"
