"""A local fake platform for the pull-sync tests: a real HTTP server on 127.0.0.1 answering the
order listings of Shopify, WooCommerce and the generic feed from an in-memory list, paged the way
each platform pages, and recording every request it got."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakePlatform:
    """``orders``: the platform's payloads (each with its own updated-at key); ``requests``: the
    (path, query, headers) of every request."""

    def __init__(self, token="tok", page_size=2):
        self.orders: list[dict] = []
        self.requests: list[tuple[str, dict, dict]] = []
        self.token, self.page_size = token, page_size
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append((url.path, query, dict(self.headers)))
                status, body, headers = fake.answer(url.path, query, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _since(self, key, value):
        return sorted(
            (
                o
                for o in self.orders
                if (o.get(key) or "").replace("Z", "") >= value.replace("Z", "").replace("+00:00", "")
            ),
            key=lambda o: o[key],
        )

    def answer(self, path, query, headers):
        if path.endswith("/orders.json"):  # Shopify: cursor pages through Link headers
            if headers.get("X-Shopify-Access-Token") != self.token:
                return 401, {"errors": "Invalid API key or access token"}, {}
            if "page_info" in query:
                since, start = query["page_info"].split("|")
            else:
                since, start = query["updated_at_min"], "0"
            rows = self._since("updated_at", since)
            start = int(start)
            page = rows[start : start + self.page_size]
            links = {}
            if start + self.page_size < len(rows):
                cursor = f"{since}|{start + self.page_size}"
                links["Link"] = f'<{self.url}{path}?limit=250&page_info={cursor}>; rel="next"'
            return 200, {"orders": page}, links
        if path.endswith("/wc/v3/orders"):  # WooCommerce: numbered pages, basic auth
            expected = "Basic " + base64.b64encode(b"ck_key:cs_secret").decode()
            if headers.get("Authorization") != expected:
                return 401, {"code": "woocommerce_rest_cannot_view"}, {}
            rows = self._since("date_modified_gmt", query["modified_after"])
            per_page, page = int(query["per_page"]), int(query["page"])
            return 200, rows[(page - 1) * per_page : page * per_page], {}
        if path.endswith("/orders"):  # the generic feed: an opaque cursor in the body
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"error": "unauthorised"}, {}
            rows = self._since("updated_at", query["updated_since"])
            start = int(query.get("cursor") or 0)
            page = rows[start : start + self.page_size]
            more = start + self.page_size < len(rows)
            return 200, {"orders": page, "next": str(start + self.page_size) if more else None}, {}
        return 404, {}, {}
