"""The group robots: WeCom (企业微信群机器人), DingTalk (钉钉自定义机器人) and Feishu/Lark (飞书自定义机器人).

Each adapter builds the platform's request from a configured channel (``config.py`` opens its
secrets) and maps the answer to a :class:`SendResult`: a rate-limit code is retryable with the
platform's wait, a bad key or signature is not (an admin must fix the channel). Rules and their
sources: ``docs/messaging.md`` and ``/work/shared/reference/integrations-im.md`` §1-4.

- WeCom: the ``key`` in the URL is the only credential; 20 messages a minute per robot (45009
  beyond), text <= 2,048 bytes, markdown <= 4,096 bytes.
- DingTalk: ``timestamp`` (ms) and ``sign`` = urlencode(base64(HMAC-SHA256(secret,
  f"{timestamp}\\n{secret}"))) in the query, within an hour of DingTalk's clock; optional keywords
  (a message must contain one); 20 a minute, then the robot is blocked for 10 minutes (130101).
- Feishu: ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b"")) in the JSON body; ``code == 0`` is success, 19021 a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

import requests

from .channels import ChannelLimits, SendResult, now, render

USER_AGENT = "crm-core-messaging/0.1"
RATE_LIMITED_WAIT = 60


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query value (already URL-encoded)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign`` body value: the concatenation is the key, the message is empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def epoch(moment) -> float:
    """Seconds since the epoch of a naive UTC datetime."""
    return (moment - moment.__class__(1970, 1, 1)).total_seconds()


def post_json(url: str, body, timeout: float, headers: dict | None = None, raw: bool = False):
    """POST ``body`` (JSON, or the bytes themselves when ``raw``, or nothing when None);
    ``(response, None)`` or ``(None, SendResult)`` for a network failure (a timeout may have
    reached the platform: ambiguous)."""
    payload = {"data": body} if raw else ({"data": b""} if body is None else {"json": body})
    try:
        response = requests.post(
            url,
            **payload,
            timeout=timeout,
            allow_redirects=False,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
        )
    except requests.ConnectTimeout:
        return None, SendResult(False, "network", "connect timeout", retryable=True)
    except requests.Timeout:
        return None, SendResult(False, "timeout", f"no answer in {timeout} s", retryable=True, ambiguous=True)
    except requests.RequestException as exc:
        # the request went out and the answer was cut off: it may have been delivered
        cut = "RemoteDisconnected" in repr(exc) or "aborted" in str(exc)
        return None, SendResult(
            False, "timeout" if cut else "network", type(exc).__name__, retryable=True, ambiguous=cut
        )
    return response, None


def _answer(response, code_key: str, rate_codes: dict, msg_key: str) -> SendResult:
    """The platform's JSON answer as a result: ``code_key == 0`` is success; a code in
    ``rate_codes`` (code -> seconds to wait) is retryable; HTTP 5xx and 429 are retryable."""
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code == 429 or response.status_code >= 500:
        wait = response.headers.get("x-ogw-ratelimit-reset") or response.headers.get("Retry-After")
        return SendResult(
            False,
            str(data.get(code_key) or f"HTTP {response.status_code}"),
            str(data.get(msg_key) or ""),
            retryable=True,
            retry_after=float(wait) if wait and str(wait).isdigit() else None,
        )
    code = data.get(code_key, data.get("StatusCode"))
    if response.status_code == 200 and code == 0:
        return SendResult(True, "0", str(data.get(msg_key) or "ok"))
    code_text = str(code if code is not None else f"HTTP {response.status_code}")
    wait = rate_codes.get(code)
    return SendResult(
        False, code_text, str(data.get(msg_key) or "")[:500], retryable=wait is not None, retry_after=wait
    )


def _mobiles(recipient: dict) -> list[str]:
    return [str(m) for m in recipient.get("mobiles") or [] if m]


# --- WeCom ---------------------------------------------------------------------------------------

WECOM_LIMITS = ChannelLimits(windows=((20, 60),), max_bytes={"text": 2048, "markdown": 4096})


def wecom_send(base_url: str, key: str, timeout: float):
    """The send function of one WeCom robot."""

    def send(recipient: dict, message: dict) -> SendResult:
        if message.get("kind") == "markdown":
            body = {"msgtype": "markdown", "markdown": {"content": message["text"]}}
        else:
            body = {"msgtype": "text", "text": {"content": message["text"]}}
            if _mobiles(recipient):
                body["text"]["mentioned_mobile_list"] = _mobiles(recipient)
        url = f"{base_url.rstrip('/')}/cgi-bin/webhook/send?key={urllib.parse.quote(key)}"
        response, failure = post_json(url, body, timeout)
        return failure or _answer(response, "errcode", {45009: RATE_LIMITED_WAIT}, "errmsg")

    return send


# --- DingTalk ------------------------------------------------------------------------------------

DINGTALK_BLOCK_SECONDS = 600
DINGTALK_LIMITS = ChannelLimits(
    windows=((20, 60),),
    block_seconds=DINGTALK_BLOCK_SECONDS,
    max_bytes={"text": 20000, "markdown": 20000},
)
#: 130101 "send too fast, exceed 20 times per minute" (then blocked 10 minutes); 410100 throttled
DINGTALK_RATE_CODES = {130101: DINGTALK_BLOCK_SECONDS, 410100: DINGTALK_BLOCK_SECONDS}


def with_keyword(text: str, keywords: list[str]) -> str:
    """``text`` with the first keyword in front when it contains none (a robot in keyword mode
    rejects a message without one)."""
    keywords = [k for k in keywords or [] if k]
    if not keywords or any(k in text for k in keywords):
        return text
    return f"[{keywords[0]}] {text}"


def dingtalk_send(base_url: str, token: str, secret: str, keywords: list[str], timeout: float):
    """The send function of one DingTalk robot (signed when it has a secret)."""

    def send(recipient: dict, message: dict) -> SendResult:
        text = with_keyword(message["text"], keywords)
        if message.get("kind") == "markdown":
            title = with_keyword(message.get("title") or text.split("\n", 1)[0][:64], keywords)
            body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        else:
            body = {"msgtype": "text", "text": {"content": text}}
        if _mobiles(recipient):
            body["at"] = {"atMobiles": _mobiles(recipient), "isAtAll": False}
        url = f"{base_url.rstrip('/')}/robot/send?access_token={urllib.parse.quote(token)}"
        if secret:
            timestamp = int(epoch(now()) * 1000)
            url += f"&timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
        response, failure = post_json(url, body, timeout)
        return failure or _answer(response, "errcode", DINGTALK_RATE_CODES, "errmsg")

    return send


# --- Feishu / Lark -------------------------------------------------------------------------------

FEISHU_LIMITS = ChannelLimits(windows=((5, 1), (100, 60)), max_bytes={"text": 100_000, "markdown": 100_000})
#: the OpenAPI gateway's throttle (HTTP 429 with x-ogw-ratelimit-reset, code 99991400)
FEISHU_RATE_CODES = {99991400: RATE_LIMITED_WAIT}


def feishu_send(base_url: str, token: str, secret: str, keywords: list[str], timeout: float):
    """The send function of one Feishu (or Lark: another base URL) custom bot."""

    def send(recipient: dict, message: dict) -> SendResult:
        text = with_keyword(message["text"], keywords)
        if message.get("kind") == "markdown":
            body = {"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": text}]}}
        else:
            body = {"msg_type": "text", "content": {"text": text}}
        if secret:
            timestamp = int(epoch(now()))
            body = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), **body}
        url = f"{base_url.rstrip('/')}/open-apis/bot/v2/hook/{urllib.parse.quote(token)}"
        response, failure = post_json(url, body, timeout)
        return failure or _answer(response, "code", FEISHU_RATE_CODES, "msg")

    return send


def prepare_robot(templates: dict):
    """The ``prepare`` of a robot channel: a ``template`` message becomes markdown rendered from
    the channel's ``templates`` (name -> text with ``{variable}`` fields)."""

    def prepare(message: dict) -> dict:
        if message.get("kind") != "template":
            if not (message.get("text") or "").strip():
                raise ValueError("the message has no text")
            return message
        name = message.get("template")
        if name not in (templates or {}):
            raise ValueError(f"the channel has no template {name!r}")
        text = render(str(templates[name]), message.get("variables") or {})
        return {"kind": "markdown", "text": text, "title": message.get("title") or name}

    return prepare


def monotonic_ms(t0: float) -> int:
    """Milliseconds since ``t0`` (``time.perf_counter``)."""
    return int((time.perf_counter() - t0) * 1000)
