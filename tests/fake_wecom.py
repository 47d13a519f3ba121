"""A local stand-in for the WeCom chat archive (via the Finance SDK bridge's HTTP shape), for
tests: ``gettoken`` checks the corp id and secret, ``getchatdata`` checks the access token and
serves items after ``seq``, each message sealed with its own random key (AES-256-GCM) and that
key encrypted with the enterprise's RSA public key, as WeCom does with ``publickey_ver``."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_rsa_key(path) -> rsa.RSAPrivateKey:
    """An RSA key pair; the private half written to ``path`` as PEM (the enterprise's file)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    return key


class FakeWeCom:
    """The fake archive: ``add(message_json, publickey_ver=1)`` queues a message with the next
    ``seq``; ``url`` is its base URL once started (a context manager)."""

    def __init__(self, corp_id: str, secret: str, public_keys: dict, padding_name: str = "pkcs1"):
        self.corp_id, self.secret = corp_id, secret
        self.public_keys = public_keys  # {publickey_ver: RSA public key}
        self.padding_name = padding_name
        self.items: list[dict] = []
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, dict]] = []
        self.fail_next = 0

    def _pad(self):
        if self.padding_name == "oaep":
            return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        return padding.PKCS1v15()

    def add(self, message: dict, publickey_ver: int = 1) -> int:
        """Seal ``message`` (the JSON ``DecryptData`` would give) under a fresh random key."""
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, json.dumps(message, ensure_ascii=False).encode(), None)
        seq = len(self.items) + 1
        self.items.append(
            {
                "seq": seq,
                "msgid": message["msgid"],
                "publickey_ver": publickey_ver,
                "encrypt_random_key": base64.b64encode(
                    self.public_keys[publickey_ver].encrypt(key, self._pad())
                ).decode(),
                "encrypt_chat_msg": base64.b64encode(sealed).decode(),
            }
        )
        return seq

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (WeCom's 42001)."""
        self.tokens.clear()

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _send(self, body: dict):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append((url.path, query))
                if url.path != "/cgi-bin/gettoken":
                    return self._send({"errcode": 404, "errmsg": "no such api"})
                if query.get("corpid") != fake.corp_id or query.get("corpsecret") != fake.secret:
                    return self._send({"errcode": 40001, "errmsg": "invalid credential"})
                token = secrets.token_hex(16)
                fake.tokens.add(token)
                self._send({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

            def do_POST(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.requests.append((url.path, {**query, **body}))
                if url.path != "/cgi-bin/msgaudit/getchatdata":
                    return self._send({"errcode": 404, "errmsg": "no such api"})
                if query.get("access_token") not in fake.tokens:
                    return self._send({"errcode": 42001, "errmsg": "access_token expired"})
                if fake.fail_next:
                    fake.fail_next -= 1
                    return self._send({"errcode": 10001, "errmsg": "system busy"})
                seq, limit = int(body.get("seq", 0)), min(int(body.get("limit", 100)), 1000)
                chosen = [item for item in fake.items if item["seq"] > seq][:limit]
                self._send({"errcode": 0, "errmsg": "ok", "chatdata": chosen})

        return Handler

    def __enter__(self) -> FakeWeCom:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
