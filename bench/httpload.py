"""HTTP for the benchmarks: ``served`` starts ``crm serve``; ``run`` is a small HTTP/1.1 load
generator, N concurrent clients on asyncio.

Why not ``requests`` in threads: on this 2-core machine the load generator shares the CPU with
the server it measures. ``requests`` costs about a millisecond of CPU per call and its 50 threads
fight over the GIL, so the client stole most of a core and its own queueing showed up as server
latency. Here each client is a coroutine writing raw requests on a kept-alive connection (it
reconnects when the server closes, as gunicorn's sync workers do after every response), so the
figures are the server's.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Request:
    """One request to send: method, path, optional JSON body and extra headers."""

    method: str
    path: str
    body: object | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, host: str) -> bytes:
        payload = b"" if self.body is None else json.dumps(self.body).encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}"]
        if self.body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass
class Result:
    """Latencies (ms) of every request, and the first few error answers."""

    latencies: list[float]
    errors: list[str]
    seconds: float
    #: how many answers of each HTTP status (errors keeps only the first few texts)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
        return status, body, False
    return status, body, headers.get("connection", "").lower() != "close"


async def _client(host, port, index, count, make, think_s, latencies, errors, rng, statuses):
    reader = writer = None
    if think_s:
        await asyncio.sleep(rng.uniform(0, think_s))  # clients start out of step, as users do
    for i in range(count):
        data = make(index, i).encode(f"{host}:{port}")
        start = time.perf_counter()
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        status, body, keep = await _read_response(reader)
        latencies.append((time.perf_counter() - start) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 400 and len(errors) < 5:
            errors.append(f"{status} {body[:200]!r}")
        if not keep:
            writer.close()
            reader = writer = None
        if think_s:
            await asyncio.sleep(rng.expovariate(1 / think_s))
    if writer is not None:
        writer.close()


def run_loop(main: Callable[[], object]):
    """``asyncio.run(main())`` on a thread of its own, returning its result (or raising its error).

    The caller's thread may already run an event loop (a test process where Playwright's sync API
    is active): ``asyncio.run`` refuses to start a second one there."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="httpload")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def run(
    host: str,
    port: int,
    clients: int,
    requests_each: int,
    make: Callable[[int, int], Request],
    think_ms: float = 0,
    seed: int = 1,
) -> Result:
    """Have ``clients`` concurrent clients each send ``requests_each`` requests built by
    ``make(client_index, i)``, pausing after each answer for a random time averaging ``think_ms``
    (exponentially distributed, each client starting at a random moment within the first pause,
    so that together they send a Poisson-like stream instead of marching in step). ``think_ms``
    0 is a closed loop: the next request as soon as the answer comes."""
    latencies: list[float] = []
    errors: list[str] = []
    statuses: dict[int, int] = {}
    rng = random.Random(seed)

    async def main():
        await asyncio.gather(
            *(
                _client(host, port, c, requests_each, make, think_ms / 1000, latencies, errors, rng, statuses)
                for c in range(clients)
            )
        )

    start = time.perf_counter()
    run_loop(main)
    return Result(latencies, errors, time.perf_counter() - start, statuses)


def timed(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``func`` in milliseconds (one warm-up call first), for the benches
    that time a call in-process rather than under load."""
    func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)[len(samples) // 2]


def percentile(samples: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    """Whether ``/api/v1/health`` on 127.0.0.1:``port`` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/api/v1/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def receiver():
    """A local HTTP/1.1 keep-alive receiver answering 204 to webhook deliveries; returns (server,
    url, hits list: one entry per delivery)."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            hits.append(1)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook", hits


@contextmanager
def served(env: dict, workers: int, threads: int = 1, wait_seconds: float = 60, log: str | None = None):
    """``crm serve`` (gunicorn, from this interpreter's venv) with ``env`` on a free local port;
    yields the port once ``/api/v1/health`` answers 200, and stops the server and its workers
    afterwards. ``log``: a file for the server's output (its tracebacks), else it is dropped."""
    port = free_port()
    crm = str(Path(sys.executable).parent / "crm")
    command = [
        crm,
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115  closed below
    server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + wait_seconds
        while not healthy(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("crm serve did not come up")
            time.sleep(0.1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if log:
            out.close()
