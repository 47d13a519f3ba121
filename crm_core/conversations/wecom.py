"""The WeCom chat archive (企业微信会话内容存档) as a conversation source.

What Tencent offers is the native Finance SDK (``libWeWorkFinanceSdk_C.so``): ``Init(corpid,
secret)``, then ``GetChatData(seq, limit)`` returning items ``{seq, msgid, publickey_ver,
encrypt_random_key, encrypt_chat_msg}``; the enterprise decrypts ``encrypt_random_key`` with the
RSA private key whose public half it uploaded (version ``publickey_ver``; the SDK's keys are
PKCS#1 v1.5) and passes the result to the SDK's ``DecryptData`` (its cipher is internal to the
library) to get the message JSON ``{msgid, action, from, tolist, roomid, msgtime, msgtype, ...}``.
The native library is kept out of web workers; a small bridge process exposes the same calls over
HTTP, and this adapter speaks to it:

- ``GET {base}/cgi-bin/gettoken?corpid=&corpsecret=`` -> ``{errcode, access_token, expires_in}``;
- ``POST {base}/cgi-bin/msgaudit/getchatdata?access_token=`` with ``{"seq", "limit"}`` ->
  ``{errcode, chatdata: [item...]}``, items as the SDK gives them, with ``encrypt_chat_msg`` as
  base64 of a 12-byte nonce and the AES-GCM ciphertext under the per-message random key (the
  bridge's stand-in for ``DecryptData``).

Each message has its own random key; a ``publickey_ver`` without a configured private key stops
the pull (the cursor stays) rather than skipping messages that could not be read. The cursor is
the last ``seq`` stored. Settings (``CORE_CONVERSATIONS_WECOM_*``): ``CORP_ID``, ``SECRET``,
``BASE_URL`` (the bridge), ``PRIVATE_KEY_FILE`` (one PEM file, or ``ver=path,ver=path`` per
``publickey_ver``), ``PADDING`` (``pkcs1``, the SDK's, or ``oaep``). The source is registered only
when all four of the first are set.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "CORE_CONVERSATIONS_WECOM_"
TIMEOUT_SECONDS = 30
#: WeCom's codes for an access token that is wrong or expired: fetch a new one and ask again
TOKEN_ERRORS = {40014, 42001}
#: the userid prefixes WeCom gives external contacts (customers); staff have the corp's own ids
EXTERNAL_PREFIXES = ("wm", "wo")
#: message types whose body is a media reference: kept as attachment metadata, not content
MEDIA_TYPES = {"image", "voice", "video", "file", "emotion"}


class WeComError(RuntimeError):
    """The archive answered an error (non-zero ``errcode``) or something that cannot be read."""


def configured(config) -> bool:
    """True when the settings name a corp, its secret, the bridge and a private key."""
    return all(config.get(PREFIX + key) for key in ("CORP_ID", "SECRET", "BASE_URL", "PRIVATE_KEY_FILE"))


def load_private_keys(spec: str) -> dict[str | None, object]:
    """The RSA private keys of ``PRIVATE_KEY_FILE``: ``{publickey_ver: key}``, or ``{None: key}``
    for one file that serves every version."""
    keys: dict[str | None, object] = {}
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    for part in parts:
        version, _, path = part.rpartition("=") if "=" in part else (None, "", part)
        pem = Path(path).expanduser().read_bytes()
        keys[version.strip() if version else None] = serialization.load_pem_private_key(pem, password=None)
    return keys


class WeComArchive:
    """A client of the archive bridge; ``fetch(cursor, limit)`` is the source's fetch."""

    def __init__(
        self, base_url: str, corp_id: str, secret: str, private_keys: dict | str, padding: str = "pkcs1"
    ):
        self.base_url = base_url.rstrip("/")
        self.corp_id, self.secret = corp_id, secret
        # a ``PRIVATE_KEY_FILE`` spec is read on the first pull: a missing or broken file then
        # fails this source's pull (its cursor stays), not the listing of every source
        self._keys = private_keys
        self.padding = padding
        if padding not in ("pkcs1", "oaep"):
            raise ValueError(f"{PREFIX}PADDING must be pkcs1 or oaep, not {padding!r}")
        self.session = requests.Session()
        self._token: str | None = None

    @property
    def private_keys(self) -> dict:
        """``{publickey_ver: key}`` (``None``: one key for every version), loaded once."""
        if isinstance(self._keys, str):
            try:
                self._keys = load_private_keys(self._keys)
            except (OSError, ValueError, TypeError) as exc:
                raise WeComError(f"{PREFIX}PRIVATE_KEY_FILE cannot be read: {type(exc).__name__}") from exc
        return self._keys

    @classmethod
    def from_config(cls, config) -> WeComArchive:
        """The adapter the settings describe."""
        return cls(
            config[PREFIX + "BASE_URL"],
            config[PREFIX + "CORP_ID"],
            config[PREFIX + "SECRET"],
            config[PREFIX + "PRIVATE_KEY_FILE"],
            config.get(PREFIX + "PADDING") or "pkcs1",
        )

    # --- the bridge's calls ---------------------------------------------------------------------

    def _answer(self, response) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise WeComError(f"HTTP {response.status_code}: not JSON") from None
        if not isinstance(body, dict):
            raise WeComError("the answer is not a JSON object")
        return body

    def access_token(self, renew: bool = False) -> str:
        """The access token (fetched once per adapter, again when WeCom says it expired)."""
        if self._token is None or renew:
            response = self.session.get(
                f"{self.base_url}/cgi-bin/gettoken",
                params={"corpid": self.corp_id, "corpsecret": self.secret},
                timeout=TIMEOUT_SECONDS,
            )
            body = self._answer(response)
            if body.get("errcode", 0) != 0 or not body.get("access_token"):
                # never the secret in the message: errors reach logs and the cursor row
                raise WeComError(f"gettoken failed: errcode {body.get('errcode')} {body.get('errmsg', '')}")
            self._token = body["access_token"]
        return self._token

    def chat_data(self, seq: int, limit: int) -> list[dict]:
        """``GetChatData``: up to ``limit`` (at most 1000) items after ``seq``."""
        for attempt in (0, 1):
            response = self.session.post(
                f"{self.base_url}/cgi-bin/msgaudit/getchatdata",
                params={"access_token": self.access_token(renew=attempt == 1)},
                json={"seq": seq, "limit": min(limit, 1000)},
                timeout=TIMEOUT_SECONDS,
            )
            body = self._answer(response)
            code = body.get("errcode", 0)
            if code in TOKEN_ERRORS and attempt == 0:
                continue
            if code != 0:
                raise WeComError(f"getchatdata failed: errcode {code} {body.get('errmsg', '')}")
            return list(body.get("chatdata") or [])
        raise WeComError("getchatdata: the access token was refused twice")

    # --- decryption -----------------------------------------------------------------------------

    def random_key(self, item: dict) -> bytes:
        """The message's own key: ``encrypt_random_key`` opened with the private key of its
        ``publickey_ver``."""
        version = str(item.get("publickey_ver", ""))
        key = self.private_keys.get(version) or self.private_keys.get(None)
        if key is None:
            raise WeComError(f"no private key for publickey_ver {version}: set {PREFIX}PRIVATE_KEY_FILE")
        if self.padding == "oaep":
            pad = rsa_padding.OAEP(
                mgf=rsa_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
            )
        else:
            pad = rsa_padding.PKCS1v15()
        try:
            return key.decrypt(base64.b64decode(item["encrypt_random_key"]), pad)
        except (ValueError, KeyError) as exc:
            raise WeComError(f"message {item.get('msgid')}: its random key does not open") from exc

    def decrypt_item(self, item: dict) -> dict:
        """The message JSON of one ``chatdata`` item."""
        blob = base64.b64decode(item["encrypt_chat_msg"])
        try:
            plain = AESGCM(self.random_key(item)).decrypt(blob[:12], blob[12:], None)
        except WeComError:
            raise
        except Exception as exc:
            raise WeComError(f"message {item.get('msgid')}: its content does not open") from exc
        return json.loads(plain)

    # --- the source -------------------------------------------------------------------------------

    def fetch(self, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """The ``crm_conversation_sources`` fetch: messages after ``cursor`` (a ``seq``)."""
        seq = int(cursor or 0)
        items = self.chat_data(seq, limit)
        messages = []
        for item in items:
            message = to_message(self.decrypt_item(item))
            if message is not None:
                messages.append(message)
            seq = max(seq, int(item["seq"]))
        return messages, str(seq) if items or cursor else cursor


def _party(user_id: str) -> dict:
    kind = "customer" if user_id.startswith(EXTERNAL_PREFIXES) else "user"
    return {"kind": kind, "external_id": user_id}


def to_message(data: dict) -> dict | None:
    """One decrypted WeCom message as an archive message (None for ``switch`` notices, which
    only say a user changed device)."""
    action = data.get("action", "send")
    if action == "switch":
        return None
    sender = str(data.get("from") or "")
    tolist = [str(u) for u in data.get("tolist") or []]
    room = data.get("roomid") or ""
    chat = room or "single:" + "|".join(sorted({sender, *tolist[:1]}))
    msgtype = data.get("msgtype") or action
    body = data.get(msgtype) if isinstance(data.get(msgtype), dict) else {}
    attachments = []
    if action == "recall":
        content = json.dumps({"recalled": data.get("pre_msgid")})
        msgtype = "recall"
    elif msgtype == "text":
        content = str(body.get("content", ""))
    elif msgtype in MEDIA_TYPES:
        content = ""
        attachments.append(
            {
                k: v
                for k, v in {
                    "media_id": body.get("sdkfileid"),
                    "md5": body.get("md5sum"),
                    "size": body.get("filesize"),
                    "name": body.get("filename"),
                }.items()
                if v is not None
            }
        )
    else:
        content = json.dumps(body, ensure_ascii=False)
    sent_at = dt.datetime.fromtimestamp(int(data.get("msgtime", 0)) / 1000, dt.UTC).replace(tzinfo=None)
    return {
        "external_id": str(data["msgid"]),
        "conversation": chat,
        "sent_at": sent_at,
        "sender": _party(sender),
        "participants": [_party(u) for u in tolist],
        "type": msgtype,
        "content": content,
        "attachments": attachments,
    }


def source(config) -> dict:
    """The ``crm_conversation_sources`` item of the configured archive (its key file is read
    when it is first pulled)."""
    archive = WeComArchive.from_config(config)
    return {"name": "wecom", "channel": "wecom", "fetch": archive.fetch, "label": "WeCom chat archive"}
