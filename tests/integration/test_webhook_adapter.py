"""Issue 21 item 6: the ``x-naftiko-webhook`` adapter (D107), proven with real HTTP posts to a
served gateway whose operation calls a real loopback upstream.

Standard Webhooks deliveries are signed by the ``standardwebhooks`` package (the specification's
own reference implementation, independent of ours); GitHub and Stripe deliveries are signed here
by hand, following each provider's documentation. Every refusal asserts the upstream received
nothing: a webhook that verified after running would pass the status checks alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook
from support import RecordingUpstream, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.adapters.webhook.replay import SeenIds
from naftiko_runtime.adapters.webhook.signatures import SignatureRefused, signing_key, verify
from naftiko_runtime.spec.profiles import ALPHA2, IKANOS, Profile
from naftiko_runtime.spec.schema import check_shape

STANDARD_SECRET = "whsec_" + base64.b64encode(b"orders-signing-key-0123456789").decode()
GITHUB_SECRET = "gh-hook-secret-4f1c"
STRIPE_SECRET = "whsec_stripe_test_9a8b7c"
PORT = 9400

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Shop events, description: Shop webhooks.}}
capability:
  binds:
  - namespace: hooks
    keys: {{ORDERS_SECRET: ORDERS_SECRET, GITHUB_SECRET: GITHUB_SECRET, STRIPE_SECRET: STRIPE_SECRET}}
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    resources:
    - name: orders
      path: /orders/{{{{id}}}}/paid
      operations:
      - name: mark-paid
        method: POST
        inputParameters: [{{name: id, in: path}}, {{name: amount, in: body}}]
  exposes:
  - type: x-naftiko-webhook
    namespace: shop-events
    port: {port}
    webhooks:
    - name: order-paid
      path: /hooks/orders
      signature: {{style: standard-webhooks, secret: "{{{{ORDERS_SECRET}}}}"}}
      inputParameters:
      - {{name: order_id, type: string, required: true}}
      - {{name: amount, type: number, value: $.payment.amount}}
      call: shop.mark-paid
      with: {{id: event.order_id, amount: event.amount}}
    - name: github-push
      path: /hooks/github
      signature: {{style: github, secret: "{{{{GITHUB_SECRET}}}}"}}
      inputParameters: [{{name: order_id, type: string, required: true}}]
      call: shop.mark-paid
      with: {{id: event.order_id}}
    - name: stripe-charge
      path: /hooks/stripe
      signature: {{style: stripe, secret: "{{{{STRIPE_SECRET}}}}", tolerance: 60}}
      inputParameters: [{{name: order_id, type: string, required: true}}]
      call: shop.mark-paid
      with: {{id: event.order_id}}
"""
SECRETS = {"ORDERS_SECRET": STANDARD_SECRET, "GITHUB_SECRET": GITHUB_SECRET, "STRIPE_SECRET": STRIPE_SECRET}


def write(tmp_path: Path, upstream: str) -> Path:
    path = tmp_path / "events.yml"
    path.write_text(CAPABILITY.format(upstream=upstream, port=PORT))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingUpstream, str]]:
    with RecordingUpstream() as upstream:
        file = write(tmp_path_factory.mktemp("webhooks"), upstream.url)
        with running_gateway([file], dict(SECRETS)) as gateway:
            yield upstream, gateway.url(PORT)


def standard_headers(body: bytes, msg_id: str, at: datetime, secret: str = STANDARD_SECRET) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def github_headers(body: bytes, secret: str = GITHUB_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push", "content-type": "application/json"}


def stripe_headers(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}", "content-type": "application/json"}


def line_of(file: Path, text: str) -> int:
    return next(n for n, line in enumerate(file.read_text().splitlines(), 1) if text in line)


def event(order: str) -> bytes:
    return json.dumps({"order_id": order, "payment": {"amount": 42.5}}).encode()


def test_standard_webhooks_event_runs_the_operation_with_body_fields(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset()
    body = event("A-1")
    headers = standard_headers(body, "msg_1", datetime.now(UTC))
    response = httpx.post(f"{url}/hooks/orders", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    assert [(r.method, r.path) for r in upstream.requests] == [("POST", "/orders/A-1/paid")]
    assert upstream.last.json() == {"amount": 42.5}  # a nested field, read by the input's value JSONPath


def test_replayed_standard_webhooks_id_runs_nothing(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset()
    body = event("A-2")
    headers = standard_headers(body, "msg_replay", datetime.now(UTC))
    assert httpx.post(f"{url}/hooks/orders", content=body, headers=headers).status_code == 200
    replay = httpx.post(f"{url}/hooks/orders", content=body, headers=headers)
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "case",
    ["tampered body", "stale timestamp", "future timestamp", "wrong secret", "no signature", "signature of another id"],
)
def test_refused_standard_webhooks_delivery_gets_401_and_runs_nothing(
    served: tuple[RecordingUpstream, str], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    upstream, url = served
    upstream.reset()
    body, now = event("B-1"), datetime.now(UTC)
    headers = standard_headers(body, f"msg_{case}", now)
    if case == "tampered body":
        body = event("B-2")
    elif case == "stale timestamp":
        headers = standard_headers(body, "msg_stale", now - timedelta(minutes=6))
    elif case == "future timestamp":
        headers = standard_headers(body, "msg_future", now + timedelta(minutes=6))
    elif case == "wrong secret":
        headers = standard_headers(body, "msg_wrong", now, "whsec_" + base64.b64encode(b"another key").decode())
    elif case == "no signature":
        del headers["webhook-signature"]
    else:
        headers["webhook-id"] = "msg_other"
    response = httpx.post(f"{url}/hooks/orders", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert STANDARD_SECRET not in response.text
    assert upstream.requests == []
    assert "webhook /hooks/orders refused" in caplog.text  # the reason is logged, never the key or body
    assert STANDARD_SECRET.removeprefix("whsec_") not in caplog.text and '"order_id"' not in caplog.text


def test_several_signatures_one_valid_is_let_in(served: tuple[RecordingUpstream, str]) -> None:
    """A sender rotating its secret signs with the old and the new key."""
    upstream, url = served
    upstream.reset()
    body, now = event("C-1"), datetime.now(UTC)
    old = standard_headers(body, "msg_rotate", now, "whsec_" + base64.b64encode(b"retired key").decode())
    new = standard_headers(body, "msg_rotate", now)
    headers = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    assert httpx.post(f"{url}/hooks/orders", content=body, headers=headers).status_code == 200
    assert len(upstream.requests) == 1


def test_github_signature(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset()
    body = event("G-1")
    assert httpx.post(f"{url}/hooks/github", content=body, headers=github_headers(body)).status_code == 200
    assert upstream.last.path == "/orders/G-1/paid"
    upstream.reset()
    unsigned = {"content-type": "application/json"}
    for headers in (github_headers(body, "not the secret"), github_headers(b"{}"), unsigned):
        assert httpx.post(f"{url}/hooks/github", content=body, headers=headers).status_code == 401
    assert upstream.requests == []


def test_stripe_signature_and_its_tolerance(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset()
    body, now = event("S-1"), int(time.time())
    assert httpx.post(f"{url}/hooks/stripe", content=body, headers=stripe_headers(body, now)).status_code == 200
    assert upstream.last.path == "/orders/S-1/paid"
    upstream.reset()
    stale = stripe_headers(body, now - 61)  # this webhook declares tolerance: 60
    tampered = stripe_headers(body, now)
    assert httpx.post(f"{url}/hooks/stripe", content=body, headers=stale).status_code == 401
    assert httpx.post(f"{url}/hooks/stripe", content=event("S-2"), headers=tampered).status_code == 401
    assert upstream.requests == []


def test_bad_event_body_and_failed_operation(served: tuple[RecordingUpstream, str]) -> None:
    from support import Canned

    upstream, url = served
    upstream.reset()
    body = json.dumps({"payment": {}}).encode()  # no order_id
    response = httpx.post(f"{url}/hooks/github", content=body, headers=github_headers(body))
    assert response.status_code == 400 and "order_id" in response.text
    assert upstream.requests == []
    upstream.reset(lambda request: Canned(500, b'{"error": "down"}'))
    body = event("F-1")
    headers = standard_headers(body, "msg_fails", datetime.now(UTC))
    failed = httpx.post(f"{url}/hooks/orders", content=body, headers=headers)
    assert failed.status_code == 502 and "HTTP 500" in failed.text
    upstream.reset()
    retried = httpx.post(f"{url}/hooks/orders", content=body, headers=headers)
    assert retried.status_code == 200 and retried.json()["status"] == "processed"  # a failed id is forgotten
    assert len(upstream.requests) == 1


def test_only_post_on_a_webhook_path(served: tuple[RecordingUpstream, str]) -> None:
    _, url = served
    response = httpx.get(f"{url}/hooks/orders")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_extension_type_is_warned_and_strict_refuses_it(tmp_path: Path) -> None:
    file = write(tmp_path, "http://127.0.0.1:9")
    loaded = load([file], Settings(), dict(SECRETS))
    assert not loaded.rejected
    warned = [d for d in loaded.diagnostics if "x-naftiko-webhook" in d.message]
    assert warned and warned[0].line == line_of(file, "type: x-naftiko-webhook")
    assert "not in the official schema" in warned[0].message
    assert load([file], Settings(strict=True), dict(SECRETS)).rejected
    file.write_text(file.read_text().replace("type: x-naftiko-webhook", "type: x-naftiko-webhooks"))
    unknown = load([file], Settings(), dict(SECRETS))
    assert unknown.rejected and any(
        "unknown adapter type 'x-naftiko-webhooks'" in d.message for d in unknown.diagnostics
    )


@pytest.mark.parametrize("profile", [ALPHA2, IKANOS], ids=["alpha2", "ikanos"])
def test_the_shape_check_knows_the_webhook_keys_in_every_dialect(profile: Profile) -> None:
    """D106: the kind registers its own shape, so a misspelt key is found where it is, in both the
    list (alpha2) and the map (Ikanos) forms, and a well-formed entry gives no finding there."""

    def exposes_findings(signature: dict[str, object]) -> list[tuple[object, ...]]:
        hook = {"path": "/h", "signature": signature, "call": "shop.paid"}
        hooks: object = [{"name": "paid", **hook}] if profile is ALPHA2 else {"paid": hook}
        adapter = {"type": "x-naftiko-webhook", "namespace": "ev", "port": PORT, "webhooks": hooks}
        document = {
            profile.root: profile.versions[0],
            "info": {profile.label: "Events", "description": "Shop webhooks."},
            "capability": {"exposes": [adapter]},
        }
        return [f.path for f in check_shape(document, profile) if f.path[:2] == ("capability", "exposes")]

    assert exposes_findings({"style": "github", "secret": "{{S}}"}) == []
    at = ("capability", "exposes", 0, "webhooks", 0 if profile is ALPHA2 else "paid", "signature")
    assert exposes_findings({"style": "github", "secret": "{{S}}", "tolrance": 3}) == [(*at, "tolrance")]
    assert exposes_findings({"style": "paypal", "secret": "{{S}}"}) == [(*at, "style")]


def test_unset_secret_and_unknown_style_are_positioned_errors(tmp_path: Path) -> None:
    file = write(tmp_path, "http://127.0.0.1:9")
    unset = load([file], Settings(), {k: v for k, v in SECRETS.items() if k != "GITHUB_SECRET"})
    assert unset.rejected
    github = line_of(file, "style: github")
    assert any("signing secret" in d.message and d.line == github for d in unset.diagnostics), unset.diagnostics
    file.write_text(file.read_text().replace("style: stripe", "style: paypal"))
    wrong = load([file], Settings(), dict(SECRETS))
    assert any("'paypal' is not one of" in d.message for d in wrong.diagnostics)


def test_seen_ids_forget_after_the_window_and_past_the_capacity() -> None:
    seen = SeenIds(window=10, capacity=3)
    assert seen.claim("a", 0) and not seen.claim("a", 5)
    assert seen.claim("a", 11)  # its window is over: the timestamp check refuses such a replay
    for n in range(5):
        assert seen.claim(f"id-{n}", 12)
    assert len(seen) == 3 and not seen.claim("id-4", 12) and seen.claim("id-0", 12)
    seen.release("id-0")
    assert seen.claim("id-0", 13)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_any_changed_byte_is_refused(body: bytes, flip: int) -> None:
    """Property: a signature over one body never verifies another, in every style."""
    now = int(time.time())
    tampered = body + b"x" if not body else bytes([body[0] ^ (flip or 1)]) + body[1:]
    key = signing_key("standard-webhooks", STANDARD_SECRET)
    std = standard_headers(body, "msg_p", datetime.fromtimestamp(now, UTC)) if body.isascii() else None
    cases = [("github", GITHUB_SECRET, github_headers(body)), ("stripe", STRIPE_SECRET, stripe_headers(body, now))]
    for style, secret, headers in cases:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert verify(style, signing_key(style, secret), lowered, body, now, 300).event_id is None
        with pytest.raises(SignatureRefused):
            verify(style, signing_key(style, secret), lowered, tampered, now, 300)
    if std is not None:
        assert verify("standard-webhooks", key, std, body, now, 300).event_id == "msg_p"
        with pytest.raises(SignatureRefused):
            verify("standard-webhooks", key, std, tampered, now, 300)
