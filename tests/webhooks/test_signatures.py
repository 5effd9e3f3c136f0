"""Signature vectors for every scheme: +-299 s pass, +-301 s fail, wrong secret, altered body, missing header."""

from __future__ import annotations

import pytest

from channels.webhooks import _signatures as sig
from tests.webhooks.conftest import NOW, WHSEC, WHSEC_OLD

BODY = b'{"type":"time.logged","data":{"entry_ref":"te-1"}}'


def _std(ts: int = NOW, secret: str = WHSEC, body: bytes = BODY, msg_id: str = "msg_1") -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": sig.standard_webhooks_sign(secret, msg_id, ts, body)}


def _code(fn: object, *args: object) -> tuple[str, str]:
    with pytest.raises(sig.SignatureError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.code, e.value.field


def test_standard_webhooks_reference_vector() -> None:
    # the example in the Standard Webhooks specification's reference libraries
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sig.standard_webhooks_sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("skew", [-299, 299, 0])
def test_standard_webhooks_accepts_within_five_minutes(skew: int) -> None:
    headers = _std(ts=NOW + skew)
    assert sig.verify_standard_webhooks(headers, BODY, [WHSEC], NOW) == ("msg_1", NOW + skew)


@pytest.mark.parametrize(("skew", "code"), [(-301, "webhook.timestamp_too_old"),
                                            (301, "webhook.timestamp_in_future")])
def test_standard_webhooks_refuses_beyond_five_minutes(skew: int, code: str) -> None:
    assert _code(sig.verify_standard_webhooks, _std(ts=NOW + skew), BODY, [WHSEC], NOW) == (code, "webhook-timestamp")


def test_standard_webhooks_wrong_secret_and_altered_body() -> None:
    assert _code(sig.verify_standard_webhooks, _std(secret=WHSEC_OLD), BODY, [WHSEC], NOW) == \
        ("webhook.signature_invalid", "webhook-signature")
    assert _code(sig.verify_standard_webhooks, _std(), BODY + b" ", [WHSEC], NOW)[0] == "webhook.signature_invalid"
    # the signed id is part of the content: another id with the same signature fails
    headers = {**_std(), "webhook-id": "msg_2"}
    assert _code(sig.verify_standard_webhooks, headers, BODY, [WHSEC], NOW)[0] == "webhook.signature_invalid"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_missing_header(missing: str) -> None:
    headers = {k: v for k, v in _std().items() if k != missing}
    code, field = _code(sig.verify_standard_webhooks, headers, BODY, [WHSEC], NOW)
    assert field == missing and code in ("webhook.signature_missing", "webhook.header_missing")


def test_standard_webhooks_several_signatures_and_secrets() -> None:
    headers = _std(secret=WHSEC_OLD)
    headers["webhook-signature"] = "v1a,bm90LWEtdjE= v1,AAAA " + headers["webhook-signature"]
    assert sig.verify_standard_webhooks(headers, BODY, [WHSEC, WHSEC_OLD], NOW)[0] == "msg_1"
    assert _code(sig.verify_standard_webhooks, {**headers, "webhook-timestamp": "soon"}, BODY, [WHSEC], NOW)[0] == \
        "webhook.timestamp_invalid"


HS_SECRET = "c5f6a7b8-hubspot-client-secret"
URI = "https://billing.brightline.example/v1/events/hubspot"


def _hs(ts_s: int = NOW, secret: str = HS_SECRET, body: bytes = BODY) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": sig.hubspot_sign(secret, "POST", URI, body, ts_s * 1000),
            "X-HubSpot-Request-Timestamp": str(ts_s * 1000)}


@pytest.mark.parametrize("skew", [-299, 299])
def test_hubspot_v3_accepts_within_five_minutes(skew: int) -> None:
    assert sig.verify_hubspot_v3(_hs(NOW + skew), "POST", URI, BODY, [HS_SECRET], NOW) == (NOW + skew) * 1000


@pytest.mark.parametrize(("skew", "code"), [(-301, "webhook.timestamp_too_old"),
                                            (301, "webhook.timestamp_in_future")])
def test_hubspot_v3_refuses_beyond_five_minutes(skew: int, code: str) -> None:
    assert _code(sig.verify_hubspot_v3, _hs(NOW + skew), "POST", URI, BODY, [HS_SECRET], NOW) == \
        (code, "X-HubSpot-Request-Timestamp")


def test_hubspot_v3_wrong_secret_altered_body_other_uri_missing_header() -> None:
    field = "X-HubSpot-Signature-v3"
    assert _code(sig.verify_hubspot_v3, _hs(secret="other"), "POST", URI, BODY, [HS_SECRET], NOW) == \
        ("webhook.signature_invalid", field)
    assert _code(sig.verify_hubspot_v3, _hs(), "POST", URI, BODY + b"x", [HS_SECRET], NOW)[0] == \
        "webhook.signature_invalid"
    assert _code(sig.verify_hubspot_v3, _hs(), "POST", URI + "?x=1", BODY, [HS_SECRET], NOW)[0] == \
        "webhook.signature_invalid"
    assert _code(sig.verify_hubspot_v3, {"X-HubSpot-Request-Timestamp": str(NOW * 1000)}, "POST", URI, BODY,
                 [HS_SECRET], NOW) == ("webhook.signature_missing", field)
    assert _code(sig.verify_hubspot_v3, {field: "x"}, "POST", URI, BODY, [HS_SECRET], NOW)[1] == \
        "X-HubSpot-Request-Timestamp"


@pytest.mark.parametrize("header", ["X-Hub-Signature", "X-Webhook-Signature-256"])
def test_hex_hmac_schemes(header: str) -> None:
    good = {header: sig.hex_sign("s3cret", BODY)}
    sig.verify_hex_hmac(good, header, BODY, ["s3cret"])
    assert _code(sig.verify_hex_hmac, {header: sig.hex_sign("other", BODY)}, header, BODY, ["s3cret"]) == \
        ("webhook.signature_invalid", header)
    assert _code(sig.verify_hex_hmac, good, header, BODY + b"\n", ["s3cret"])[0] == "webhook.signature_invalid"
    assert _code(sig.verify_hex_hmac, {}, header, BODY, ["s3cret"]) == ("webhook.signature_missing", header)
