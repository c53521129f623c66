"""Each channel's payload and signature, computed as the receivers verify them: the webhook's
HMAC over `<timestamp>.<body>`, DingTalk's query `sign`, Feishu's body `sign`, WeCom's markdown,
and a mail's stable Message-ID."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from aicc.services.common import Invalid
from aicc.services.notify import formats, targets

MESSAGE = formats.Message(
    delivery_id="ndl_01TEST",
    event_id="nev_01TEST",
    kind="job.failed",
    subject="job train failed",
    body="Job train (job_1) failed: exit_code. 训练失败",
    at=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
    org_id="org_1",
    project_id="prj_1",
    data={"job_id": "job_1"},
)
NOW = 1_795_000_000


def test_webhook_is_signed_over_timestamp_and_body() -> None:
    request = formats.webhook("https://hooks.example.com/x", "s3cret", MESSAGE, now=NOW)
    headers = request.headers
    assert headers["X-AICC-Delivery"] == headers["Idempotency-Key"] == "ndl_01TEST"
    assert headers["X-AICC-Timestamp"] == str(NOW)
    expected = hmac.new(b"s3cret", f"{NOW}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert headers["X-AICC-Signature"] == f"sha256={expected}"
    payload = json.loads(request.body)
    assert payload["id"] == "ndl_01TEST"
    assert (
        payload["event"]["kind"] == "job.failed" and payload["event"]["data"]["job_id"] == "job_1"
    )
    assert "训练失败" in payload["event"]["body"]  # UTF-8, not escaped
    unsigned = formats.webhook("https://hooks.example.com/x", None, MESSAGE, now=NOW)
    assert "X-AICC-Signature" not in unsigned.headers


def test_wecom_markdown() -> None:
    request = formats.wecom(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K", None, MESSAGE, now=NOW
    )
    payload = json.loads(request.body)
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["content"].startswith("### job train failed")
    assert request.url.endswith("key=K")


def test_dingtalk_sign_in_the_query() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=T"
    request = formats.dingtalk(url, "SEC123", MESSAGE, now=NOW)
    query = parse_qs(urlsplit(request.url).query)
    assert query["access_token"] == ["T"]
    timestamp = query["timestamp"][0]
    assert timestamp == str(NOW * 1000)
    mac = hmac.new(b"SEC123", f"{timestamp}\nSEC123".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(mac).decode()  # parse_qs undid the encoding
    assert unquote_plus(formats.dingtalk_sign("SEC123", int(timestamp))) == query["sign"][0]
    payload = json.loads(request.body)
    assert payload["msgtype"] == "markdown" and payload["markdown"]["title"] == "job train failed"
    assert formats.dingtalk(url, None, MESSAGE, now=NOW).url == url


def test_feishu_sign_in_the_body() -> None:
    request = formats.feishu(
        "https://open.feishu.cn/open-apis/bot/v2/hook/H", "fs", MESSAGE, now=NOW
    )
    payload = json.loads(request.body)
    assert payload["timestamp"] == str(NOW)
    key = f"{NOW}\nfs".encode()
    assert payload["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert payload["msg_type"] == "text" and "job train failed" in payload["content"]["text"]
    unsigned = json.loads(formats.feishu("https://x.example/h", None, MESSAGE, now=NOW).body)
    assert "sign" not in unsigned


def test_mail_keeps_its_id_on_every_attempt() -> None:
    mail = formats.email("ops@example.com", "aicc@example.com", MESSAGE)
    again = formats.email("ops@example.com", "aicc@example.com", MESSAGE)
    assert mail["Message-ID"] == again["Message-ID"] == "<ndl_01TEST@aicc>"
    assert mail["Subject"] == "[AICC] job train failed"
    assert "训练失败" in mail.get_content()


def test_bots_answering_an_error_code_failed() -> None:
    assert formats.refused("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}')
    assert formats.refused("feishu", 200, b'{"code":19021,"msg":"sign match fail"}')
    assert formats.refused("wecom", 200, b'{"errcode":0,"errmsg":"ok"}') is None
    assert formats.refused("webhook", 200, b"anything") is None
    assert formats.refused("webhook", 500, b"boom") == "HTTP 500"  # never the receiver's words
    said = formats.refused(
        "dingtalk", 200, b'{"errcode":310000,"errmsg":"internal: db at 10.0.0.5"}'
    )
    assert said == "dingtalk answered error code 310000"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://metadata.google.internal/computeMetadata",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "https://user:pw@example.com/x",
        "http://127.0.0.1:8080/api/v1/jobs",  # the server itself
        "http://10.0.0.5:5432/",  # the center's network
        "http://[::1]/x",
        "http://0.0.0.0:5000/v2/",
    ],
)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        targets.check_url(url)
    assert "target" in refused.value.detail


def refusal(url: str, listed: list[str] | None = None) -> str:
    with pytest.raises(targets.Refused) as refused:
        targets.pinned(url, listed or [])
    return str(refused.value)


def test_plain_urls_pass_and_names_are_checked_at_send() -> None:
    assert targets.check_url("https://hooks.example.com/x") == "https://hooks.example.com/x"
    said = refusal("http://localhost:9/x")
    assert "localhost resolves to" in said and "notify.private_hosts" in said  # points inside
    assert "169.254.169.254" in refusal("http://169.254.169.254/")


def test_an_operator_lists_the_private_hosts_channels_may_reach() -> None:
    listed = ["127.0.0.1", "localhost"]
    assert targets.check_url("http://127.0.0.1:9/x", listed) == "http://127.0.0.1:9/x"
    assert targets.pinned("http://127.0.0.1:9/x", listed).url == "http://127.0.0.1:9/x"
    assert targets.pinned("http://localhost:9/x", listed).host == "localhost"
    with pytest.raises(Invalid):  # metadata stays out, listed or not
        targets.check_url("http://169.254.169.254/", ["169.254.169.254"])
