"""Local stand-ins for the messaging platforms, for tests: one threaded HTTP server answering as
WeCom's group robot, DingTalk's custom robot, Feishu's custom bot, Aliyun's SendSms and Tencent
Cloud's SendSms do, each checking what the platform checks (key, signature, clock window,
keywords, sizes) and enforcing its limits on the fake's own clock (``now``, a naive UTC datetime
a test moves with the sender's), with the platform's error codes
(/work/shared/reference/integrations-im.md)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from crm_core.messaging.robots import dingtalk_sign, epoch, feishu_sign
from crm_core.messaging.sms import acs3_headers, tc3_authorization


class FakeIM:
    """``wecom``: key -> [messages]; ``dingtalk``/``feishu``: token -> {"secret", "keywords",
    "messages"}; ``aliyun``/``tencent``: {"key_id", "secret", "sends"}. ``log`` has every
    request as ``(platform, answer code)``; ``cut_next`` makes the next SMS send be recorded and
    its answer cut off (a client-side timeout)."""

    def __init__(self):
        self.now = dt.datetime(2026, 1, 5, 9, 0, 0)
        self.wecom: dict[str, list] = {}
        self.dingtalk: dict[str, dict] = {}
        self.feishu: dict[str, dict] = {}
        self.aliyun = {"key_id": "LTAI-test", "secret": "aliyun-secret", "sends": []}
        self.tencent = {"key_id": "AKID-test", "secret": "tencent-secret", "sends": []}
        self.stamps: dict[str, list] = {}
        self.blocked: dict[str, dt.datetime] = {}
        self.log: list[tuple[str, object]] = []
        self.cut_next = 0
        self.lock = threading.Lock()

    # --- limits on the fake clock -----------------------------------------------------------
    def _over(self, bucket: str, count: int, seconds: int) -> bool:
        recent = [t for t in self.stamps.get(bucket, []) if t > self.now - dt.timedelta(seconds=seconds)]
        self.stamps[bucket] = recent
        if len(recent) >= count:
            return True
        recent.append(self.now)
        return False

    # --- platforms ----------------------------------------------------------------------------
    def handle_wecom(self, query, body):
        key = (query.get("key") or [""])[0]
        if key not in self.wecom:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        kind = body.get("msgtype")
        content = (body.get(kind) or {}).get("content", "")
        limit = {"text": 2048, "markdown": 4096}.get(kind)
        if limit is None:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode()) > limit:
            return 200, {"errcode": 40058, "errmsg": "content exceed max length"}
        if self._over("wecom:" + key, 20, 60):
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        self.wecom[key].append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def handle_dingtalk(self, query, body):
        token = (query.get("access_token") or [""])[0]
        robot = self.dingtalk.get(token)
        if robot is None:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        if robot.get("secret"):
            try:
                timestamp = int((query.get("timestamp") or ["0"])[0])
            except ValueError:
                timestamp = 0
            if abs(epoch(self.now) * 1000 - timestamp) > 3600 * 1000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            # parse_qs decoded the query once; the sender's value is the url-encoded base64
            expected = dingtalk_sign(robot["secret"], timestamp)
            if (query.get("sign") or [""])[0] != parse_qs("s=" + expected)["s"][0]:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        kind = body.get("msgtype")
        text = (body.get("text") or {}).get("content") or (body.get("markdown") or {}).get("text") or ""
        if robot.get("keywords") and not any(k in text for k in robot["keywords"]):
            return 200, {"errcode": 310000, "errmsg": "keywords not in content"}
        if len(json.dumps(body, ensure_ascii=False).encode()) > 20000:
            return 200, {"errcode": 460101, "errmsg": "message too long"}
        blocked = self.blocked.get("dingtalk:" + token)
        if blocked and blocked > self.now:
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        if self._over("dingtalk:" + token, 20, 60):
            self.blocked["dingtalk:" + token] = self.now + dt.timedelta(minutes=10)
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        robot["messages"].append(body | {"kind": kind})
        return 200, {"errcode": 0, "errmsg": "ok"}

    def handle_feishu(self, token, body):
        bot = self.feishu.get(token)
        if bot is None:
            return 200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        if bot.get("secret"):
            try:
                timestamp = int(body.get("timestamp") or 0)
            except ValueError:
                timestamp = 0
            if abs(epoch(self.now) - timestamp) > 3600 or body.get("sign") != feishu_sign(
                bot["secret"], timestamp
            ):
                return 200, {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
        if self._over("feishu1:" + token, 5, 1) or self._over("feishu60:" + token, 100, 60):
            return 429, {"code": 99991400, "msg": "request trigger frequency limit"}
        bot["messages"].append(body)
        return 200, {"code": 0, "msg": "success", "data": {}}

    def handle_aliyun(self, query, headers):
        params = {k: v[0] for k, v in query.items()}
        moment = dt.datetime.strptime(headers.get("x-acs-date", "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ")
        signed = acs3_headers(
            self.aliyun["key_id"],
            self.aliyun["secret"],
            headers.get("host", ""),
            headers.get("x-acs-action", ""),
            params,
            moment,
            headers.get("x-acs-signature-nonce", ""),
            version=headers.get("x-acs-version", ""),
        )
        if signed["Authorization"] != headers.get("authorization"):
            return 200, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        if abs((self.now - moment).total_seconds()) > 900:
            return 200, {"Code": "InvalidTimeStamp.Expired", "Message": "timestamp expired"}
        if headers.get("x-acs-version") != "2017-05-25":
            return 200, {"Code": "InvalidVersion", "Message": "Specified parameter Version is not valid."}
        action = headers.get("x-acs-action")
        if action == "QuerySendDetails":
            found = [s for s in self.aliyun["sends"] if s["PhoneNumbers"] == params.get("PhoneNumber")]
            details = [{"OutId": s["OutId"], "SendStatus": 3, "BizId": s["BizId"]} for s in found]
            return 200, {"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": details}}
        if not params.get("SignName") or not params.get("TemplateCode", "").startswith("SMS_"):
            return 200, {"Code": "isv.INVALID_PARAMETERS", "Message": "bad sign name or template"}
        if self._over("aliyun:" + params["PhoneNumbers"], 1, 60):
            return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
        send = params | {"BizId": f"biz{len(self.aliyun['sends']) + 1}"}
        self.aliyun["sends"].append(send)
        return 200, {"Code": "OK", "Message": "OK", "BizId": send["BizId"], "RequestId": "r1"}

    def handle_tencent(self, raw: bytes, headers):
        try:
            timestamp = int(headers.get("x-tc-timestamp", "0"))
        except ValueError:
            timestamp = 0
        expected = tc3_authorization(
            self.tencent["key_id"],
            self.tencent["secret"],
            headers.get("host", ""),
            "sms",
            raw.decode(),
            timestamp,
        )
        if abs(epoch(self.now) - timestamp) > 300:
            return 200, {
                "Response": {
                    "Error": {"Code": "AuthFailure.SignatureExpire", "Message": "signature expired"},
                    "RequestId": "r",
                }
            }
        if expected != headers.get("authorization"):
            return 200, {
                "Response": {
                    "Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad signature"},
                    "RequestId": "r",
                }
            }
        body = json.loads(raw)
        if headers.get("x-tc-action") == "PullSmsSendStatusByPhoneNumber":
            found = [s for s in self.tencent["sends"] if s["PhoneNumberSet"][0] == body["PhoneNumber"]]
            items = [
                {"SessionContext": s["SessionContext"], "SerialNo": s["SerialNo"], "ReportStatus": "SUCCESS"}
                for s in found
            ]
            return 200, {"Response": {"PullSmsSendStatusSet": items, "RequestId": "r"}}
        phone = body["PhoneNumberSet"][0]
        if self._over("tencent:" + phone, 1, 30):
            status = {
                "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                "Message": "30 s limit",
                "PhoneNumber": phone,
            }
            return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r"}}
        send = body | {"SerialNo": f"serial{len(self.tencent['sends']) + 1}"}
        self.tencent["sends"].append(send)
        status = {"Code": "Ok", "Message": "send success", "SerialNo": send["SerialNo"], "PhoneNumber": phone}
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r"}}

    # --- server -------------------------------------------------------------------------------
    def route(self, path: str, headers: dict, raw: bytes):
        """``(status, json)`` for one request, or None to cut the connection."""
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        with self.lock:
            if parts.path.startswith("/wecom/cgi-bin/webhook/send"):
                return ("wecom",) + self.handle_wecom(query, json.loads(raw or b"{}"))
            if parts.path.startswith("/dingtalk/robot/send"):
                return ("dingtalk",) + self.handle_dingtalk(query, json.loads(raw or b"{}"))
            if parts.path.startswith("/feishu/open-apis/bot/v2/hook/"):
                return ("feishu",) + self.handle_feishu(
                    parts.path.rsplit("/", 1)[1], json.loads(raw or b"{}")
                )
            if parts.path.startswith("/aliyun"):
                return ("aliyun",) + self.handle_aliyun(query, headers)
            if parts.path.startswith("/tencent"):
                return ("tencent",) + self.handle_tencent(raw, headers)
        return "unknown", 404, {"error": "no such path"}

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                platform, status, body = fake.route(self.path, headers, raw)
                code = body.get(
                    "errcode",
                    body.get(
                        "code", body.get("Code", (body.get("Response") or {}).get("Error", {}).get("Code"))
                    ),
                )
                fake.log.append((platform, code))
                if fake.cut_next and platform in ("aliyun", "tencent"):
                    fake.cut_next -= 1
                    self.close_connection = True
                    return  # the send is recorded, the answer never comes
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 429:
                    self.send_header("x-ogw-ratelimit-reset", "1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict:
        """App settings aiming every sender at this fake."""
        return {
            "CORE_MESSAGING_WECOM_ROBOT_BASE_URL": self.url + "/wecom",
            "CORE_MESSAGING_DINGTALK_ROBOT_BASE_URL": self.url + "/dingtalk",
            "CORE_MESSAGING_FEISHU_BOT_BASE_URL": self.url + "/feishu",
            "CORE_MESSAGING_SMS_ALIYUN_BASE_URL": self.url + "/aliyun",
            "CORE_MESSAGING_SMS_TENCENT_BASE_URL": self.url + "/tencent",
            "CORE_MESSAGING_TIMEOUT_SECONDS": 5,
        }
