"""SMS accounts: Aliyun 短信服务 ``SendSms`` (Dysmsapi 2017-05-25) and Tencent Cloud 短信 ``SendSms``
(2021-01-11), signed as each documents (ACS3-HMAC-SHA256, TC3-HMAC-SHA256).

SMS in China goes out as an approved template under an approved signature (签名): a message is
``{"kind": "template", "template": <name>, "variables": {...}}``; the channel's ``templates``
map the name to the provider's template (Aliyun ``code`` with named parameters, Tencent ``id``
with ``params``, the ordered names of its positional parameters). Neither API is idempotent: a
send that timed out is never sent again before ``query`` looked for it (Aliyun
``QuerySendDetails`` by ``OutId``, Tencent ``PullSmsSendStatusByPhoneNumber`` by
``SessionContext``, both carrying the delivery's key). Tencent refuses a request whose timestamp
is more than 5 minutes off (``AuthFailure.SignatureExpire``): not retried, the clock must be fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.parse

from .channels import ChannelLimits, SendResult, now
from .robots import epoch, post_json

DEFAULT_CAPS = ((1, 60), (5, 3600), (10, 86400))
#: replies that mean "no more marketing" (回T退订 and the usual English words)
STOP_WORDS = {"t", "td", "退订", "退", "取消", "stop", "unsubscribe", "n"}


def is_stop_reply(text: str) -> bool:
    """True when an SMS reply asks to unsubscribe (``T``, ``TD``, ``退订``, ``STOP``...)."""
    return (text or "").strip().strip("。.!！").lower() in STOP_WORDS


def limits_for(settings: dict) -> ChannelLimits:
    """An SMS channel's limits: per-number caps from its ``caps`` setting (``[[count, seconds],
    ...]``), by default 1 a minute, 5 an hour, 10 a day (Aliyun's defaults for one number)."""
    caps = tuple(tuple(int(x) for x in cap) for cap in settings.get("caps") or DEFAULT_CAPS)
    return ChannelLimits(windows=((50, 1),), per_address=caps)


def prepare_sms(templates: dict, named: bool):
    """The ``prepare`` of an SMS channel: only known templates, with every parameter given."""

    def prepare(message: dict) -> dict:
        if message.get("kind") != "template":
            raise ValueError("SMS sends approved templates only: use kind 'template'")
        spec = (templates or {}).get(message.get("template"))
        if not spec:
            raise ValueError(f"the channel has no template {message.get('template')!r}")
        variables = message.get("variables") or {}
        missing = [p for p in spec.get("params") or [] if p not in variables]
        if missing:
            raise ValueError(f"the template needs {', '.join(missing)}")
        values = {p: str(variables[p]) for p in spec.get("params") or []}
        ref = spec.get("code") if named else spec.get("id")
        return {
            "kind": "template",
            "template": message["template"],
            "provider_template": ref,
            "variables": values,
        }

    return prepare


# --- Aliyun: ACS3-HMAC-SHA256 ------------------------------------------------------------------

ALIYUN_VERSION = "2017-05-25"  # Dysmsapi


def _pct(value: str) -> str:
    return urllib.parse.quote(str(value), safe="-_.~")


def acs3_headers(
    key_id: str,
    key_secret: str,
    host: str,
    action: str,
    query: dict,
    moment: dt.datetime,
    nonce: str,
    version: str = ALIYUN_VERSION,
) -> dict:
    """The signed headers of an Aliyun RPC call (signature V3): the canonical request is method,
    path ``/``, the sorted percent-encoded query, the ``host`` and ``x-acs-*`` headers and the
    SHA-256 of the (empty) body; the signature is HMAC-SHA256 of its hash under the secret."""
    empty = hashlib.sha256(b"").hexdigest()
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": empty,
    }
    signed = sorted(headers)
    canonical_query = "&".join(f"{_pct(k)}={_pct(query[k])}" for k in sorted(query))
    canonical = "\n".join(
        [
            "POST",
            "/",
            canonical_query,
            "".join(f"{k}:{headers[k]}\n" for k in signed),
            ";".join(signed),
            empty,
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return headers


def aliyun_number(phone: str) -> str:
    """Aliyun's form: a mainland number without +86, any other with its country code."""
    return phone[3:] if phone.startswith("+86") else phone.lstrip("+")


def _aliyun_call(base_url, key_id, key_secret, action, query, timeout):
    host = urllib.parse.urlsplit(base_url).netloc
    headers = acs3_headers(key_id, key_secret, host, action, query, now(), secrets.token_hex(16))
    url = f"{base_url.rstrip('/')}/?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"
    return post_json(url, None, timeout, headers=headers)


#: codes worth another try later (throttles); anything else needs a person
ALIYUN_RETRY = {"isv.BUSINESS_LIMIT_CONTROL": 3600, "Throttling.User": 60, "ServiceUnavailable": 60}


def aliyun_send(base_url: str, settings: dict, secret: dict, timeout: float):
    """Send and query functions of one Aliyun SMS account."""
    key_id, key_secret = secret.get("access_key_id", ""), secret.get("access_key_secret", "")

    def send(recipient: dict, message: dict) -> SendResult:
        query = {
            "PhoneNumbers": aliyun_number(recipient["phone"]),
            "SignName": settings.get("sign_name", ""),
            "TemplateCode": message["provider_template"],
            "TemplateParam": json.dumps(message["variables"], ensure_ascii=False, sort_keys=True),
            "OutId": message.get("key") or "",
        }
        response, failure = _aliyun_call(base_url, key_id, key_secret, "SendSms", query, timeout)
        if failure:
            return failure
        data = _json(response)
        code = str(data.get("Code") or f"HTTP {response.status_code}")
        if code == "OK":
            return SendResult(True, "OK", data.get("Message", ""), provider_ref=data.get("BizId"))
        wait = ALIYUN_RETRY.get(code)
        return SendResult(
            False, code, str(data.get("Message", ""))[:500], retryable=wait is not None, retry_after=wait
        )

    def query(recipient: dict, message: dict) -> SendResult | None:
        day = now().strftime("%Y%m%d")
        params = {
            "PhoneNumber": aliyun_number(recipient["phone"]),
            "SendDate": day,
            "PageSize": "50",
            "CurrentPage": "1",
        }
        response, failure = _aliyun_call(base_url, key_id, key_secret, "QuerySendDetails", params, timeout)
        if failure or _json(response).get("Code") != "OK":
            return None
        details = (_json(response).get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        for item in details:
            # SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered
            if item.get("OutId") == message.get("key") and item.get("SendStatus") in (1, 3):
                return SendResult(True, "OK", "found by QuerySendDetails", provider_ref=item.get("BizId"))
        return SendResult(False, "not_found", "QuerySendDetails has no such send", retryable=True)

    return send, query


# --- Tencent Cloud: TC3-HMAC-SHA256 ------------------------------------------------------------

TENCENT_VERSION = "2021-01-11"
TENCENT_CONTENT_TYPE = "application/json; charset=utf-8"


def tc3_authorization(
    secret_id: str, secret_key: str, host: str, service: str, payload: str, timestamp: int
) -> str:
    """Tencent Cloud's ``Authorization`` (TC3-HMAC-SHA256) of a JSON POST signing content-type
    and host: the key is derived from the secret by the day (UTC), the service and
    ``tc3_request``."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{TENCENT_CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    scope = f"{day}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def _h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = _h(_h(_h(("TC3" + secret_key).encode(), day), service), "tc3_request")
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


TENCENT_RETRY = {
    "RequestLimitExceeded": 60,
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600,
    "InternalError.Timeout": 60,
}


def tencent_send(base_url: str, settings: dict, secret: dict, timeout: float):
    """Send and query functions of one Tencent Cloud SMS application."""
    secret_id, secret_key = secret.get("secret_id", ""), secret.get("secret_key", "")
    host = urllib.parse.urlsplit(base_url).netloc

    def call(action: str, body: dict):
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        timestamp = int(epoch(now()))
        headers = {
            "Content-Type": TENCENT_CONTENT_TYPE,
            "X-TC-Action": action,
            "X-TC-Version": TENCENT_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": settings.get("region") or "ap-guangzhou",
            "Authorization": tc3_authorization(secret_id, secret_key, host, "sms", payload, timestamp),
        }
        return post_json(base_url.rstrip("/") + "/", payload.encode(), timeout, headers=headers, raw=True)

    def send(recipient: dict, message: dict) -> SendResult:
        body = {
            "PhoneNumberSet": [recipient["phone"]],
            "SmsSdkAppId": str(settings.get("sdk_app_id", "")),
            "SignName": settings.get("sign_name", ""),
            "TemplateId": str(message["provider_template"]),
            "TemplateParamSet": list(message["variables"].values()),
            "SessionContext": message.get("key") or "",
        }
        response, failure = call("SendSms", body)
        if failure:
            return failure
        data = _json(response).get("Response") or {}
        error = data.get("Error")
        if error:
            code = str(error.get("Code"))
            wait = TENCENT_RETRY.get(code)
            return SendResult(
                False, code, str(error.get("Message", ""))[:500], retryable=wait is not None, retry_after=wait
            )
        status = (data.get("SendStatusSet") or [{}])[0]
        if status.get("Code") == "Ok":
            return SendResult(True, "Ok", status.get("Message", ""), provider_ref=status.get("SerialNo"))
        code = str(status.get("Code"))
        wait = TENCENT_RETRY.get(code)
        return SendResult(
            False, code, str(status.get("Message", ""))[:500], retryable=wait is not None, retry_after=wait
        )

    def query(recipient: dict, message: dict) -> SendResult | None:
        body = {
            "BeginTime": int(epoch(now())) - 86400,
            "Offset": 0,
            "Limit": 100,
            "PhoneNumber": recipient["phone"],
            "SmsSdkAppId": str(settings.get("sdk_app_id", "")),
        }
        response, failure = call("PullSmsSendStatusByPhoneNumber", body)
        data = {} if failure else _json(response).get("Response") or {}
        if failure or data.get("Error"):
            return None
        for item in data.get("PullSmsSendStatusSet") or []:
            if item.get("SessionContext") == message.get("key"):
                return SendResult(
                    True, "Ok", "found by PullSmsSendStatusByPhoneNumber", provider_ref=item.get("SerialNo")
                )
        return SendResult(False, "not_found", "no such send in the status pull", retryable=True)

    return send, query


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
