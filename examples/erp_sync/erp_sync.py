"""Pull customers and orders from an ERP's REST API into crm-core, through crm-core's public API.

Run it from cron or a scheduler (README.md)::

    python erp_sync.py --crm http://crm.example.com --crm-token "$CRM_TOKEN" \\
        --erp https://erp.example.com --erp-token "$ERP_TOKEN" --state erp_sync_state.json

What it does, each run:

1. makes sure crm-core has where to put the data (metadata API, once): a unique, filterable
   custom field ``erp_id`` on customers, and a custom object type ``erp_order`` (number, amount,
   status, ordered_at, a reference to the customer, ``erp_id``);
2. for customers, then orders, asks the ERP for what changed since the cursor it stored last
   time (``since``), page by page (``next_cursor``), and upserts each record by its ERP id:
   found by ``?erp_id=`` it is changed with ``PATCH`` (``If-Match`` with the ETag just read, so
   a change made meanwhile in the CRM is not overwritten blindly: it is read again and retried),
   else created with ``POST`` and an ``Idempotency-Key`` naming the ERP record and its version,
   so a retry after a lost answer never creates a second one; a 409 on ``erp_id`` (another run
   created it meanwhile) turns into the ``PATCH`` of the record the answer names;
3. saves the cursor after each page, so an interrupted run goes on where it stopped and a rerun
   imports only what changed.

Busy answers (429, 5xx) are retried with exponential backoff, honouring ``Retry-After``.
Only the public REST API is used: no database access, no crm-core import.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

API = "/api/v1"
ORDER_TYPE = "erp_order"
CUSTOMER_FIELDS = [{"name": "erp_id", "type": "string", "unique": True, "filterable": True}]
ORDER_FIELDS = [
    {"name": "erp_id", "type": "string", "unique": True, "filterable": True},
    {"name": "number", "type": "string"},
    {"name": "amount", "type": "decimal"},
    {"name": "currency", "type": "string"},
    {"name": "status", "type": "string"},
    {"name": "ordered_at", "type": "datetime"},
    {"name": "customer", "type": "reference", "reference": "customers"},
]
RETRY_STATUSES = (429, 500, 502, 503, 504)


class SyncError(RuntimeError):
    """A call that failed for good (after retries), with what was asked and answered."""


@dataclass
class Http:
    """A JSON client with a bearer token, retrying busy answers with backoff."""

    base: str
    token: str
    retries: int = 4
    backoff: float = 0.5  # seconds, doubled each retry (tests use 0)
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, ok=(200,), **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        for attempt in range(self.retries + 1):
            response = self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                break
            wait = response.headers.get("Retry-After")
            time.sleep(float(wait) if wait and wait.isdigit() else self.backoff * 2**attempt)
        if response.status_code not in ok:
            raise SyncError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response


class CRM:
    """crm-core's public REST API, as far as the sync needs it."""

    def __init__(self, http: Http):
        self.http = http
        self.customer_ids: dict[str, int] = {}  # ERP customer id -> crm-core id, this run

    def ensure_schema(self) -> None:
        """The ``erp_id`` field on customers and the ``erp_order`` type (created when missing)."""
        known = {f["name"] for f in self.http.call("GET", f"{API}/fields/customers").json()}
        for spec in CUSTOMER_FIELDS:
            if spec["name"] not in known:
                self.http.call("POST", f"{API}/fields/customers", ok=(201,), json=spec)
        types = {t["name"] for t in self.http.call("GET", f"{API}/objects").json()}
        if ORDER_TYPE not in types:
            body = {
                "name": ORDER_TYPE,
                "label": {"en": "ERP order", "zh-CN": "ERP 订单"},
                "fields": ORDER_FIELDS,
            }
            self.http.call("POST", f"{API}/objects", ok=(201,), json=body)

    def find(self, collection: str, erp_id: str) -> int | None:
        """The crm-core id of the record carrying ``erp_id``, or None."""
        rows = self.http.call("GET", f"{API}/{collection}", params={"erp_id": erp_id, "page_size": 1}).json()
        return rows[0]["id"] if rows else None

    def upsert(self, collection: str, erp_id: str, version, body: dict) -> tuple[str, int]:
        """Create or change the record of ``collection`` whose ``erp_id`` is ``erp_id``:
        ``("created" | "updated" | "unchanged", id)``."""
        record_id = self.find(collection, erp_id)
        if record_id is None:
            key = f"erp-sync:{collection}:{erp_id}:{version}"
            r = self.http.call(
                "POST", f"{API}/{collection}", ok=(201, 409), json=body, headers={"Idempotency-Key": key}
            )
            if r.status_code == 201:
                return "created", r.json()["id"]
            record_id = r.json().get("existing_id")
            if record_id is None:
                raise SyncError(f"POST {collection}: 409 {r.text[:300]}")
        return self.patch(collection, record_id, body), record_id

    def patch(self, collection: str, record_id: int, body: dict, attempts: int = 3) -> str:
        """Bring the record to ``body`` unless it already is; ``If-Match`` guards each change."""
        path = f"{API}/{collection}/{record_id}"
        for _ in range(attempts):
            current = self.http.call("GET", path)
            if _contains(current.json(), body):
                return "unchanged"
            r = self.http.call(
                "PATCH", path, ok=(200, 412), json=body, headers={"If-Match": current.headers["ETag"]}
            )
            if r.status_code == 200:
                return "updated"
        raise SyncError(f"PATCH {path}: still changing after {attempts} attempts")

    def customer_id(self, erp_customer: str | None) -> int | None:
        """The crm-core id of an ERP customer (imported before its orders)."""
        if erp_customer is None:
            return None
        if erp_customer not in self.customer_ids:
            self.customer_ids[erp_customer] = self.find("customers", erp_customer)
        return self.customer_ids[erp_customer]


def _contains(record: dict, body: dict) -> bool:
    for key, value in body.items():
        if key == "custom":
            if any((record.get("custom") or {}).get(k) != v for k, v in value.items()):
                return False
        elif record.get(key) != value:
            return False
    return True


def customer_body(row: dict) -> dict:
    """An ERP customer as crm-core's customer (the mapping to change for another ERP)."""
    body = {"name": row["name"], "custom": {"erp_id": row["id"]}}
    for key in ("email", "phone"):
        if row.get(key):
            body[key] = row[key]
    return body


def order_body(row: dict, customer_id: int | None) -> dict:
    """An ERP order as a record of the ``erp_order`` custom object type."""
    custom = {
        "erp_id": row["id"],
        "number": row["number"],
        "amount": str(row["amount"]),
        "currency": row.get("currency", "CNY"),
        "status": row["status"],
        "ordered_at": row["ordered_at"],
    }
    if customer_id is not None:
        custom["customer"] = customer_id
    return {"name": row["number"], "custom": custom}


class State:
    """The incremental cursors, one per ERP resource, kept in a JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def since(self, resource: str) -> int:
        return int(self.data.get(resource, {}).get("since", 0))

    def advance(self, resource: str, since: int) -> None:
        """Store the new cursor (written atomically: a crash leaves the old or the new one)."""
        self.data[resource] = {"since": since}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)


def changes(erp: Http, resource: str, since: int, limit: int):
    """Pages of ERP records changed after ``since``: ``(items, highest seq on the page)``."""
    params = {"since": since, "limit": limit}
    while True:
        page = erp.call("GET", f"/api/{resource}", params=params).json()
        if page["items"]:
            yield page["items"], max(item["seq"] for item in page["items"])
        if not page.get("next_cursor"):
            return
        params = {"since": since, "limit": limit, "cursor": page["next_cursor"]}


def sync(crm: CRM, erp: Http, state: State, limit: int = 50) -> dict:
    """One run: customers, then orders. ``{"customers": {created, updated, unchanged}, ...}``."""
    crm.ensure_schema()
    stats = {}
    plan = (
        ("customers", "customers", lambda row: customer_body(row)),
        (
            "orders",
            f"objects/{ORDER_TYPE}",
            lambda row: order_body(row, crm.customer_id(row.get("customer_id"))),
        ),
    )
    for resource, collection, to_body in plan:
        counts = stats[resource] = {"created": 0, "updated": 0, "unchanged": 0}
        for items, high in changes(erp, resource, state.since(resource), limit):
            for row in items:
                outcome, record_id = crm.upsert(collection, row["id"], row["seq"], to_body(row))
                counts[outcome] += 1
                if resource == "customers":
                    crm.customer_ids[row["id"]] = record_id
            state.advance(resource, high)
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crm", default=os.environ.get("CRM_URL"), help="crm-core base URL")
    parser.add_argument("--crm-token", default=os.environ.get("CRM_TOKEN"), help="crm-core API token")
    parser.add_argument("--erp", default=os.environ.get("ERP_URL"), help="ERP base URL")
    parser.add_argument("--erp-token", default=os.environ.get("ERP_TOKEN"), help="ERP API token")
    parser.add_argument("--state", default="erp_sync_state.json", help="where the cursors are kept")
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args(argv)
    missing = [n for n in ("crm", "crm_token", "erp", "erp_token") if not getattr(args, n)]
    if missing:
        parser.error("missing: " + ", ".join("--" + n.replace("_", "-") for n in missing))
    crm = CRM(Http(args.crm.rstrip("/"), args.crm_token))
    erp = Http(args.erp.rstrip("/"), args.erp_token)
    try:
        stats = sync(crm, erp, State(args.state), args.page_size)
    except SyncError as exc:
        print(f"erp_sync: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
