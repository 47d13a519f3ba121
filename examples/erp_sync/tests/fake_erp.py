"""A small ERP-like REST API for the sync example's tests: customers and orders behind a bearer
token, listed in change order with cursor pagination.

Every write bumps one change sequence and stamps the record with it (``seq``), as an ERP's
"modified since" column does. ``GET /api/customers`` and ``GET /api/orders`` take ``since`` (only
records changed after that sequence), ``limit`` (1 to 100) and ``cursor`` (the ``next_cursor`` of
the previous page, an opaque token) and answer ``{"items": [...], "next_cursor": str | null}``.
``fail_next`` makes the next request answer 503 (a busy ERP), to test the client's retries;
``requests`` records what was asked.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN = "erp-test-token"


class FakeERP:
    """The ERP's data and its HTTP server (``url`` once started)."""

    def __init__(self):
        self.seq = 0
        self.records: dict[str, dict[str, dict]] = {"customers": {}, "orders": {}}
        self.requests: list[dict] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.server.server_close()

    def put(self, resource: str, record_id: str, **fields) -> dict:
        """Create or change a record (a change the ERP's users made)."""
        with self._lock:
            self.seq += 1
            record = {**self.records[resource].get(record_id, {"id": record_id}), **fields, "seq": self.seq}
            self.records[resource][record_id] = record
            return record

    def page(self, resource: str, since: int, after: int, limit: int) -> dict:
        changed = sorted(
            (r for r in self.records[resource].values() if r["seq"] > max(since, after)),
            key=lambda r: r["seq"],
        )
        items = changed[:limit]
        more = len(changed) > limit
        cursor = None
        if more:
            cursor = base64.urlsafe_b64encode(json.dumps({"after": items[-1]["seq"]}).encode()).decode()
        return {"items": items, "next_cursor": cursor}

    def _handler(self):
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                args = {k: v[-1] for k, v in parse_qs(url.query).items()}
                erp.requests.append({"path": url.path, **args})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": "unauthorized"})
                if erp.fail_next:
                    erp.fail_next -= 1
                    return self._send(503, {"error": "busy, retry later"})
                resource = url.path.removeprefix("/api/")
                if resource not in erp.records:
                    return self._send(404, {"error": "not found"})
                try:
                    since = int(args.get("since", 0))
                    limit = int(args.get("limit", 50))
                    after = (
                        json.loads(base64.urlsafe_b64decode(args["cursor"]))["after"]
                        if "cursor" in args
                        else 0
                    )
                except (ValueError, KeyError, TypeError):
                    return self._send(400, {"error": "bad since, limit or cursor"})
                if not 1 <= limit <= 100:
                    return self._send(400, {"error": "limit must be 1 to 100"})
                with erp._lock:
                    return self._send(200, erp.page(resource, since, after, limit))

        return Handler
