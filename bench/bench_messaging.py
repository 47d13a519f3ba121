#!/usr/bin/env python3
"""Messages queued and sent per second, PostgreSQL, against same-run baselines.

1. Queue: N messages through ``send_message`` (channel lookup, consent hooks, delivery row, audit
   entry). Baseline: the same number of bare ``INSERT``s of a delivery row.
2. Send: ``deliver_due`` sends them through a plugin channel with no rate limit whose ``send``
   only counts (claim under the channel's lock, attempt rows, outcome, audit). Baseline: calling
   that ``send`` N times directly.
3. HTTP: M messages to the local fake WeCom robot (tests/fake_im.py) with its 20-a-minute window
   removed from the channel, end to end. Baseline: the same bodies posted by one bare ``requests``
   call each.

    .venv/bin/python bench/bench_messaging.py            # N=1000, M=200
    options: --messages N --http M --pg-url postgresql://...
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from fake_im import FakeIM  # noqa: E402

from crm_core import hookimpl  # noqa: E402
from crm_core.testing import migrate_url, scratch_database  # noqa: E402


class Counting:
    """A plugin channel without limits that only counts."""

    def __init__(self):
        self.sent = 0

    def send(self, recipient, message):
        from crm_core.messaging import SendResult  # the app is built by main()

        self.sent += 1
        return SendResult(True, "ok")

    @hookimpl
    def crm_message_channels(self):
        from crm_core.messaging import MessageChannel  # the app is built by main()

        return [MessageChannel(name="count", kinds=("text",), send=self.send)]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "inf"


def line(label: str, n: int, seconds: float, base: float | None = None) -> None:
    ratio = f"   ratio {seconds / base:.1f}x baseline time" if base else ""
    print(f"  {label:<38} {rate(n, seconds):>10}   {seconds * 1000 / n:.3f} ms each{ratio}")


def bench(app, plugin: Counting, fake: FakeIM, n: int, m: int) -> None:
    from crm_core.db import database, utcnow
    from crm_core.messaging import config, deliver_due, send_message
    from crm_core.messaging.models import MessageDelivery

    start = time.perf_counter()
    for i in range(n):
        with database.atomic():
            MessageDelivery.create(
                channel="count", recipient={"group": "g"}, message={"kind": "text", "text": f"m{i}"}
            )
    insert_s = time.perf_counter() - start
    MessageDelivery.delete().execute()
    start = time.perf_counter()
    for i in range(n):
        send_message("count", {"group": "g"}, {"text": f"m{i}"})
    queue_s = time.perf_counter() - start
    print(f"queue: {n} messages")
    line("bare delivery INSERT (baseline)", n, insert_s)
    line("send_message", n, queue_s, insert_s)

    start = time.perf_counter()
    for i in range(n):
        plugin.send({"group": "g"}, {"text": f"m{i}"})
    call_s = time.perf_counter() - start
    plugin.sent = 0
    start = time.perf_counter()
    while deliver_due(now=utcnow()):
        pass
    send_s = time.perf_counter() - start
    assert plugin.sent == n, plugin.sent
    print(f"send: {n} messages through a counting plugin channel")
    line("channel send() alone (baseline)", n, call_s)
    line("deliver_due (claim, attempt, outcome)", n, send_s, call_s)

    fake.wecom["BENCH"] = []
    config.create_channel(None, {"name": "wecom", "kind": "wecom_robot", "secrets": {"key": "BENCH"}})
    original = config.build

    def unlimited(row):  # the platform's window would make this a 10-minute benchmark
        return dataclasses.replace(
            original(row), limits=dataclasses.replace(original(row).limits, windows=())
        )

    config.build = unlimited
    fake._over = lambda *args: False
    url = f"{fake.url}/wecom/cgi-bin/webhook/send?key=BENCH"
    start = time.perf_counter()
    for i in range(m):
        requests.post(url, json={"msgtype": "text", "text": {"content": f"m{i}"}}, timeout=10)
    bare_s = time.perf_counter() - start
    fake.wecom["BENCH"] = []
    for i in range(m):
        send_message("wecom", {"group": "g"}, {"text": f"m{i}"})
    start = time.perf_counter()
    while deliver_due(now=utcnow()):
        pass
    http_s = time.perf_counter() - start
    config.build = original
    assert len(fake.wecom["BENCH"]) == m, len(fake.wecom["BENCH"])
    print(f"http: {m} messages to the fake WeCom robot")
    line("bare requests.post (baseline)", m, bare_s)
    line("deliver_due over HTTP", m, http_s, bare_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=int(os.environ.get("BENCH_MESSAGES", 1000)))
    parser.add_argument("--http", type=int, default=int(os.environ.get("BENCH_HTTP", 200)))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    fake = FakeIM().start()
    plugin = Counting()
    try:
        with scratch_database(args.pg_url, "crm_bench_msg") as url:
            migrate_url(url)
            from crm_core.app import create_app  # after the database exists

            app = create_app(
                {
                    "DATABASE_URL": url,
                    "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
                    "SECRET_KEY": "bench",
                    **fake.settings(),
                },
                plugins=[("bench_counting", plugin)],
            )
            with app.app_context():
                bench(app, plugin, fake, args.messages, args.http)
            app.extensions["crm"].db.close()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
