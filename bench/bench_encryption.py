#!/usr/bin/env python3
"""Encryption at rest, PostgreSQL, same run: what a field costs to seal and open, what a page of
customers with encrypted fields costs over HTTP beside the same page with plain fields, and how
fast ``crm keys reencrypt`` moves values to a new key.

1. ``seal_value`` + ``open_value`` of an 18-character ID number, AES-256-GCM and SM4-GCM (µs);
2. ``GET /api/v1/customers?owner_id=..&page_size=20``: 20 customers whose two custom fields are
   encrypted (one bound to the person) vs 20 whose two fields are plain: medians and the ratio;
3. re-encryption of N tokens after ``crm keys rotate``: values per second.

    .venv/bin/python bench/bench_encryption.py                # N=20000 tokens (smoke size)
    BENCH_N=1000000 .venv/bin/python bench/bench_encryption.py
    options: --n N --repeat R --pg-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from httpload import timed  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402

ID = "110105199003071234"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", 20000)))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 30)))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    with scratch_database(args.pg_url, "crm_bench_crypto") as url:
        return run(url, args)


def cipher_costs(app, rounds: int) -> list[tuple[str, float]]:
    from crm_core.crypto import ciphers, keyring
    from crm_core.crypto.values import open_value, seal_value

    out = []
    for cipher in ("SM4-GCM", "AES-256-GCM"):  # AES last: the active key for the rest
        if not ciphers.available(cipher):
            out.append((cipher, float("nan")))
            continue
        # inside a request, as a write runs: the active key is read once per request
        with app.test_request_context():
            keyring.add_key(cipher)
            keyring.active_key()
            start = time.perf_counter()
            for i in range(rounds):
                ctx = f"customers/{i}/id_number"
                open_value(seal_value(ID, ctx), ctx)
            out.append((cipher, (time.perf_counter() - start) / rounds * 1e6))
    return out


def load_people(client, headers, owner, encrypted: bool) -> None:
    fields = ("e_id", "e_note") if encrypted else ("p_id", "p_note")
    for i in range(20):
        custom = {fields[0]: f"{ID[:-4]}{i:04d}", fields[1]: f"note {i} about a visit"}
        r = client.post(
            "/api/v1/customers", json={"name": f"p{i}", "owner_id": owner, "custom": custom}, headers=headers
        )
        assert r.status_code == 201, r.get_json()


def load_tokens(n: int) -> None:
    """N customers each holding one token of the active key (sealed for its row), inserted raw."""
    from crm_core.crypto.values import seal_value
    from crm_core.db import database, utcnow
    from crm_core.entities.models import Customer

    now = utcnow()
    start_id = (Customer.select(Customer.id).order_by(Customer.id.desc()).scalar() or 0) + 1
    batch = []
    for i in range(n):
        rid = start_id + i
        token = seal_value(f"{i:018d}", f"customers/{rid}/e_id")
        batch.append(
            {"id": rid, "name": f"t{i}", "custom": {"e_id": token}, "created_at": now, "updated_at": now}
        )
        if len(batch) == 5000:
            with database.atomic():
                Customer.insert_many(batch).execute()
            batch = []
    if batch:
        with database.atomic():
            Customer.insert_many(batch).execute()
    database.execute_sql(
        "SELECT setval(pg_get_serial_sequence('customer', 'id'), (SELECT max(id) FROM customer))"
    )


def run(url: str, args) -> int:
    os.environ.setdefault("CRM_PLUGINS_DISABLED", "loyalty,channel_tracking")
    migrate_url(url)
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.crypto import keyring, rotation
    from crm_core.custom.definitions import create_field

    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "ENCRYPTION_CIPHER": "AES-256-GCM",
            "LOG_LEVEL": "WARNING",  # no line per request in the figures' output
        }
    )
    costs = cipher_costs(app, rounds=max(200, min(args.n, 5000)))
    with app.app_context():
        user = create_user("bench_admin", "Bench-Passw0rd!", roles=("admin",))
        other = create_user("bench_other", "Bench-Passw0rd!", roles=("sales",))
        raw, _ = issue_token(user, ttl=0)
        headers = {"Authorization": f"Bearer {raw}"}
        for name in ("p_id", "p_note"):
            create_field("customers", {"name": name, "type": "string"})
        create_field("customers", {"name": "e_id", "type": "string", "encrypted": True, "blind_index": True})
        create_field("customers", {"name": "e_note", "type": "text", "encrypted": True})
    client = app.test_client()
    load_people(client, headers, other.id, encrypted=False)
    load_people(client, headers, user.id, encrypted=True)

    def page(owner):
        def call():
            r = client.get(f"/api/v1/customers?owner_id={owner}&page_size=20", headers=headers)
            assert r.status_code == 200 and len(r.get_json()) == 20, r.get_json()
            return r

        return call

    assert page(user.id)().get_json()[0]["custom"]["e_note"].startswith("note")
    timed(page(other.id), 3)  # warm both paths before measuring either
    plain_ms, sealed_ms = timed(page(other.id), args.repeat), timed(page(user.id), args.repeat)

    with app.test_request_context():  # as a write does: the active key read once
        load_tokens(args.n)
        keyring.add_key("AES-256-GCM")
        start = time.perf_counter()
        done = rotation.reencrypt(batch=2000)
        reencrypt_s = time.perf_counter() - start
        left = rotation.usage()
        active = keyring.active_key().key_id
    moved = done.rewritten
    print(f"tokens: {args.n}  cipher: AES-256-GCM for the page and the re-encryption")
    for cipher, us in costs:
        print(f"seal+open one field, {cipher:<12} {us:8.1f} µs")
    print(f"HTTP list of 20, plain fields      {plain_ms:8.2f} ms (median of {args.repeat})")
    print(f"HTTP list of 20, 2 encrypted       {sealed_ms:8.2f} ms (median of {args.repeat})")
    print(f"ratio encrypted/plain: {sealed_ms / plain_ms:.2f}x")
    print(f"re-encryption: {moved} values in {reencrypt_s:.1f} s = {moved / reencrypt_s:,.0f} values/s")
    old_keys = {k: v for k, v in left.items() if v and k != active}
    print(f"values left under old keys: {old_keys or 0}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
