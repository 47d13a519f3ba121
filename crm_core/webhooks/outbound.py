"""Outbound webhooks: fan events out to matching subscriptions, then send them.

Fan-out runs as a ``crm_event`` consumer inside the event dispatcher's transaction, so a
delivery row exists exactly once per (event, subscription). Sending happens later (scheduler job
``core.webhooks:deliver``) outside any transaction: due deliveries are leased (status
``sending`` with ``lease_until``), posted in parallel, and their attempts recorded. A process that
dies mid-send leaves leases that expire, and those deliveries are sent again: at-least-once,
de-duplicated by receivers on ``webhook-id``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from flask import current_app

from .. import permissions
from ..auth import actor_for_user
from ..auth.models import User
from ..db import database, is_postgres, utcnow
from ..events import Event, dispatch_cache, emit
from ..events.emitter import new_event_uid
from ..events.retry import backoff_delay
from . import signing
from .models import (
    FAILED,
    FAILING,
    HELD,
    PENDING,
    RETRYING,
    SENDING,
    SUCCEEDED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from .urls import UnsafeURL, check_url

log = logging.getLogger(__name__)

USER_AGENT = "crm-core-webhooks/0.1"
MAX_BACKOFF_SECONDS = 6 * 3600
RESPONSE_EXCERPT = 1000


def matches(patterns: list[str], event_type: str) -> bool:
    """True when ``event_type`` matches one of the subscription's patterns (``*`` is a wildcard:
    ``customer.*``, ``*.created``, ``*``)."""
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns or ())


def _owner_actor(owner_id, cache: dict):
    """The subscription owner's ``Actor`` (None for an inactive or missing user)."""
    if owner_id not in cache:
        user = User.get_or_none(User.id == owner_id)
        cache[owner_id] = actor_for_user(user) if user is not None and user.is_active else None
    return cache[owner_id]


def body_of(event, data: dict) -> str:
    """The exact JSON body sent (and signed): compact, UTF-8, stable key order."""
    return json.dumps(event.envelope(data), ensure_ascii=False, separators=(",", ":"))


def fan_out(event) -> int:
    """Queue ``event`` for every active subscription whose filter matches; returns how many.

    A subscription whose owner is inactive, or may not read the event's resource, gets nothing.
    """
    cache = dispatch_cache()
    if cache is None:
        cache = {}
    if "webhooks.subscriptions" not in cache:
        cache["webhooks.subscriptions"] = list(
            WebhookSubscription.select().where(WebhookSubscription.active == True)  # noqa: E712
        )
    owners: dict = cache.setdefault("webhooks.owners", {})
    rows = []
    now = utcnow()
    for sub in cache["webhooks.subscriptions"]:
        if not matches(sub.events, event.type):
            continue
        # a subscription without an owner gets what nobody in particular may see (ids only,
        # unless the event is public); one whose owner is inactive gets nothing
        actor = _owner_actor(sub.owner_id, owners) if sub.owner_id is not None else None
        if sub.owner_id is not None and actor is None:
            continue
        data = permissions.event_data(actor, event, cache.setdefault("webhooks.masks", {}))
        if data is None:
            continue
        rows.append(
            {
                "subscription": sub.id,
                "message_id": event.id,
                "event_type": event.type,
                "payload": body_of(event, data),
                "status": HELD if sub.status == FAILING else PENDING,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        WebhookDelivery.insert_many(rows).execute()
    return len(rows)


def enqueue(subscription: WebhookSubscription, event, redelivery_of: int | None = None) -> WebhookDelivery:
    """Queue one event for one subscription regardless of its filter (automation action
    "send webhook"); masked by the owner's field rules like any delivery."""
    actor = _owner_actor(subscription.owner_id, {}) if subscription.owner_id is not None else None
    data = permissions.event_data(actor, event) if subscription.owner_id is None or actor else None
    if data is None:
        raise PermissionError("the subscription's owner may not read this event")
    return WebhookDelivery.create(
        subscription=subscription,
        message_id=event.id,
        event_type=event.type,
        payload=body_of(event, data),
        status=HELD if subscription.status == FAILING else PENDING,
        redelivery_of=redelivery_of,
    )


def ping(subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a ``webhook.ping`` to one subscription (to test the receiver and its signature
    check). Pings are not domain events: they are not in the outbox and go nowhere else."""
    event = Event(
        id=new_event_uid(),
        type="webhook.ping",
        data={"subscription_id": subscription.id, "url": subscription.url},
        occurred_at=utcnow(),
    )
    return WebhookDelivery.create(
        subscription=subscription,
        message_id=event.id,
        event_type=event.type,
        payload=body_of(event, event.data),
        status=PENDING,
    )


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """A new delivery of the same body and ``webhook-id`` (manual redelivery), due now."""
    return WebhookDelivery.create(
        subscription=delivery.subscription_id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        status=PENDING,
        redelivery_of=delivery.id,
    )


def release_held(subscription: WebhookSubscription) -> int:
    """Make the deliveries held while ``subscription`` was failing due now; returns how many."""
    return (
        WebhookDelivery.update(status=PENDING, next_attempt_at=utcnow(), updated_at=utcnow())
        .where(WebhookDelivery.subscription == subscription, WebhookDelivery.status == HELD)
        .execute()
    )


# --- sending -----------------------------------------------------------------------------------


@dataclass
class Job:
    delivery_id: int
    attempt: int
    url: str
    secret: str
    message_id: str
    payload: str


@dataclass
class Outcome:
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _session() -> requests.Session:
    # one keep-alive session per sending thread
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.headers["User-Agent"] = USER_AGENT
    return _local.session


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook"), size
        return _pool


def send(job: Job, timeout: float, allow_private: bool) -> Outcome:
    """POST one signed delivery; never raises (errors become the outcome)."""
    started = utcnow()
    t0 = time.perf_counter()
    try:
        check_url(job.url, allow_private=allow_private)
        heads = signing.headers(job.secret, job.message_id, job.payload)
        heads["content-type"] = "application/json"
        response = _session().post(
            job.url, data=job.payload.encode(), headers=heads, timeout=timeout, allow_redirects=False
        )
        body = response.text[:RESPONSE_EXCERPT] if response.content else None
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Outcome(started, _ms(t0), response.status_code, error, body)
    except UnsafeURL as exc:
        return Outcome(started, _ms(t0), None, f"refused: {exc}")
    except requests.Timeout:
        return Outcome(started, _ms(t0), None, f"timeout after {timeout} s")
    except requests.RequestException as exc:
        return Outcome(started, _ms(t0), None, f"{type(exc).__name__}: {exc}"[:1000])


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def _claim(limit: int, now: dt.datetime, lease_seconds: float) -> list[Job]:
    txn = database.atomic() if is_postgres() else database.atomic("IMMEDIATE")
    with txn:
        due = (WebhookDelivery.status.in_([PENDING, RETRYING]) & (WebhookDelivery.next_attempt_at <= now)) | (
            (WebhookDelivery.status == SENDING) & (WebhookDelivery.lease_until < now)
        )
        live = WebhookSubscription.select(WebhookSubscription.id).where(WebhookSubscription.active == True)  # noqa: E712
        query = (
            WebhookDelivery.select()
            .where(due & WebhookDelivery.subscription.in_(live))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if is_postgres():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if not rows:
            return []
        WebhookDelivery.update(
            status=SENDING, lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now
        ).where(WebhookDelivery.id.in_([r.id for r in rows])).execute()
        subs = {
            s.id: s
            for s in WebhookSubscription.select(
                WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret
            ).where(WebhookSubscription.id.in_(sorted({r.subscription_id for r in rows})))
        }
    return [
        Job(
            r.id,
            r.attempts + 1,
            subs[r.subscription_id].url,
            subs[r.subscription_id].secret,
            r.message_id,
            r.payload,
        )
        for r in rows
        if r.subscription_id in subs
    ]


def deliver_due(limit: int = 200, now: dt.datetime | None = None) -> int:
    """Send every due delivery (up to ``limit``) and record each attempt; returns how many were
    attempted. ``now`` lets tests travel in time past a backoff."""
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    allow_private = bool(config["WEBHOOK_ALLOW_PRIVATE_URLS"])
    now = now or utcnow()
    jobs = _claim(limit, now, lease_seconds=timeout * 2 + 30)
    if not jobs:
        return 0
    pool = _executor(max(1, int(config["WEBHOOK_CONCURRENCY"])))
    outcomes = list(pool.map(lambda job: send(job, timeout, allow_private), jobs))
    _record_all(jobs, outcomes, config, now)
    return len(jobs)


def _record_all(jobs: list[Job], outcomes: list[Outcome], config, now: dt.datetime) -> None:
    """Log every attempt and move each delivery and subscription on, in one transaction: the
    batch's deliveries and subscriptions are read once, attempts inserted together, and each
    subscription written once."""
    with database.atomic():
        deliveries = {
            d.id: d
            for d in WebhookDelivery.select(WebhookDelivery, WebhookSubscription)
            .join(WebhookSubscription)
            .where(WebhookDelivery.id.in_([job.delivery_id for job in jobs]))
        }
        attempts, subs = [], {}
        for job, outcome in zip(jobs, outcomes, strict=True):
            delivery = deliveries.get(job.delivery_id)
            if delivery is None:  # subscription deleted meanwhile
                continue
            sub = subs.setdefault(delivery.subscription_id, delivery.subscription)
            attempts.append(
                {
                    "delivery": delivery.id,
                    "number": job.attempt,
                    "started_at": outcome.started_at,
                    "duration_ms": outcome.duration_ms,
                    "status_code": outcome.status_code,
                    "error": outcome.error,
                    "response_body": outcome.response_body,
                    "succeeded": outcome.ok,
                }
            )
            _advance(delivery, sub, job, outcome, config, now, emit)
        if attempts:
            WebhookAttempt.insert_many(attempts).execute()
        for sub in subs.values():
            WebhookSubscription.update(
                consecutive_failures=sub.consecutive_failures,
                last_success_at=sub.last_success_at,
                last_failure_at=sub.last_failure_at,
                status=sub.status,
                failing_since=sub.failing_since,
                active=sub.active,
            ).where(WebhookSubscription.id == sub.id).execute()


def _advance(delivery, sub, job: Job, outcome: Outcome, config, now: dt.datetime, emit) -> None:
    """Apply one attempt's outcome to its delivery (saved) and subscription (in memory)."""
    delivery.attempts = job.attempt
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.lease_until = None
    finished = now + dt.timedelta(milliseconds=outcome.duration_ms)
    if outcome.ok:
        delivery.status, delivery.delivered_at = SUCCEEDED, finished
        sub.consecutive_failures, sub.last_success_at = 0, finished
    else:
        sub.consecutive_failures += 1
        sub.last_failure_at = finished
        if outcome.status_code == 410:
            # the receiver says the endpoint is gone for good: stop sending to it
            delivery.status = FAILED
            sub.active = False
        elif job.attempt >= int(config["WEBHOOK_MAX_ATTEMPTS"]):
            delivery.status = FAILED
            if sub.status != FAILING:
                sub.status, sub.failing_since = FAILING, finished
                emit(
                    "webhook.failing",
                    {
                        "subscription_id": sub.id,
                        "url": sub.url,
                        "failures": sub.consecutive_failures,
                        "owner_id": sub.owner_id,
                        "department_id": sub.department_id,
                    },
                    resource="webhooks",
                )
        else:
            delivery.status = RETRYING
            delay = backoff_delay(
                job.attempt, base=float(config["WEBHOOK_RETRY_BASE_SECONDS"]), cap=MAX_BACKOFF_SECONDS
            )
            delivery.next_attempt_at = finished + dt.timedelta(seconds=delay)
    delivery.save(
        only=[
            WebhookDelivery.attempts,
            WebhookDelivery.last_status_code,
            WebhookDelivery.last_error,
            WebhookDelivery.lease_until,
            WebhookDelivery.status,
            WebhookDelivery.delivered_at,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.updated_at,
        ]
    )
