"""What each kind of channel is sent, as bytes: pure functions of the message, the channel's
secret and the time, so each payload and signature can be checked without a network.

- webhook: a JSON body; `X-AICC-Delivery` (the delivery's id, the same on every attempt: a
  receiver drops repeats by it), `X-AICC-Event`, `X-AICC-Timestamp` (Unix seconds) and, with a
  secret, `X-AICC-Signature: sha256=<hex>`, HMAC-SHA256 of `<timestamp>.<body>` under it.
- wecom: 企业微信 group bot, `{"msgtype": "markdown", "markdown": {"content": ...}}`.
- dingtalk: 钉钉 custom robot, `{"msgtype": "markdown", "markdown": {"title", "text"}}`; with a
  secret, `timestamp` (ms) and `sign` in the query: base64 of HMAC-SHA256 under the secret of
  `"<timestamp>\\n<secret>"`, URL-encoded.
- feishu: 飞书 custom bot, `{"msg_type": "text", "content": {"text": ...}}`; with a secret,
  `timestamp` (s) and `sign` in the body: base64 of HMAC-SHA256 whose key is
  `"<timestamp>\\n<secret>"` over an empty message.
- email: a plain-text message whose `Message-ID` is the delivery's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

MAX_TEXT = 4000  # the bots cut long messages (WeCom's markdown takes 4096 bytes)


@dataclass(frozen=True)
class Message:
    """An event as every channel tells it."""

    delivery_id: str
    event_id: str
    kind: str
    subject: str
    body: str
    at: datetime
    org_id: str
    project_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}"[:MAX_TEXT]

    def markdown(self) -> str:
        return f"### {self.subject}\n\n{self.body}"[:MAX_TEXT]


@dataclass(frozen=True)
class Request:
    """One HTTP POST to send."""

    url: str
    headers: dict[str, str]
    body: bytes


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", **(extra or {})}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """A webhook's `X-AICC-Signature`: `sha256=` HMAC-SHA256(secret, `<timestamp>.<body>`)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook(url: str, secret: str | None, message: Message, *, now: int) -> Request:
    body = _json(
        {
            "id": message.delivery_id,
            "event": {
                "id": message.event_id,
                "kind": message.kind,
                "subject": message.subject,
                "body": message.body,
                "at": message.at.isoformat(),
                "org_id": message.org_id,
                "project_id": message.project_id,
                "data": message.data,
            },
        }
    )
    headers = {
        "X-AICC-Delivery": message.delivery_id,
        "X-AICC-Event": message.kind,
        "X-AICC-Timestamp": str(now),
        "Idempotency-Key": message.delivery_id,
    }
    if secret:
        headers["X-AICC-Signature"] = signature(secret, now, body)
    return Request(url, _headers(headers), body)


def wecom(url: str, secret: str | None, message: Message, *, now: int) -> Request:
    """WeCom's group bot signs nothing: its URL's `key` is the secret."""
    body = _json({"msgtype": "markdown", "markdown": {"content": message.markdown()}})
    return Request(url, _headers(), body)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign`: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    mac = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(mac).decode())


def dingtalk(url: str, secret: str | None, message: Message, *, now: int) -> Request:
    body = _json(
        {
            "msgtype": "markdown",
            "markdown": {"title": message.subject[:64], "text": message.markdown()},
        }
    )
    if secret:
        timestamp_ms = now * 1000
        parts = urlsplit(url)
        query = f"timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"
        url = urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))
    return Request(url, _headers(), body)


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's `sign`: base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu(url: str, secret: str | None, message: Message, *, now: int) -> Request:
    payload: dict[str, Any] = {"msg_type": "text", "content": {"text": message.text()}}
    if secret:
        payload = {"timestamp": str(now), "sign": feishu_sign(secret, now), **payload}
    return Request(url, _headers(), _json(payload))


POSTS = {"webhook": webhook, "wecom": wecom, "dingtalk": dingtalk, "feishu": feishu}


def email(to: str, sender: str, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = f"[AICC] {message.subject}"
    mail["Message-ID"] = f"<{message.delivery_id}@aicc>"  # the same on every attempt
    mail["X-AICC-Event"] = message.kind
    mail["X-AICC-Delivery"] = message.delivery_id
    mail.set_content(f"{message.body}\n\n-- \nAICC · {message.kind} · {message.at.isoformat()}\n")
    return mail


def refused(kind: str, status: int, answer: bytes) -> str | None:
    """Why a receiver's answer is a failure, or None: the bots answer 200 with an error code.
    Its status or the bot's code only, never its text (a tenant reads the error back)."""
    if status >= 300:
        return f"HTTP {status}"
    if kind == "webhook":
        return None
    try:
        parsed = json.loads(answer or b"{}")
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    code = parsed.get("errcode", parsed.get("code", parsed.get("StatusCode", 0)))
    if code not in (0, None):
        shown = str(code)[:20] if isinstance(code, int | str) else "?"
        return f"{kind} answered error code {shown}"
    return None
