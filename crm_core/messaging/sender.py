"""Sending queued deliveries: the job ``core.messaging:send``.

Due deliveries are claimed in one transaction that holds each channel's ``message_channel_state``
row (``FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so every process and scheduler
counts the same rate window: the attempts of a channel in its windows (WeCom 20 a minute) are
rows of ``message_attempt``, and a claim inserts its attempts (outcome ``sending``) before any
request goes out. A delivery over a window waits until the window has room (spread, not
dropped); a channel blocked by its platform (DingTalk's 10 minutes after 130101) waits out the
block; an SMS number over its caps waits too (up to a day, then fails). Requests go out after the
claim commits; the batch's outcomes are written back in one transaction. A delivery whose sender
died after claiming it (its lease ran out) has its unfinished attempts marked ``unknown``. Retryable failures (network, throttle
codes) are retried with ``crm_core.events.retry.backoff_delay`` (the outbox's and webhooks'
timing) until ``CORE_MESSAGING_MAX_ATTEMPTS``; an ambiguous one (a timeout) is looked up with the
channel's ``query`` before it is sent again (SMS APIs are not idempotent). ``now`` is the clock
of the run (the job context's, or a test's): signatures' timestamps use it too.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from flask import current_app

from ..audit import record_event
from ..db import is_postgres, utcnow, write_transaction
from ..events.retry import backoff_delay
from .channels import MessageChannel, SendResult, _clock, collect, parts_of
from .models import (
    A_FAILED,
    A_SENDING,
    A_SENT,
    A_UNKNOWN,
    FAILED,
    QUEUED,
    REFUSED,
    RETRYING,
    SENDING,
    SENT,
    ChannelState,
    MessageAttempt,
    MessageDelivery,
)
from .service import refusal

log = logging.getLogger(__name__)

PREFIX = "CORE_MESSAGING_"
MAX_CAP_WAIT = dt.timedelta(days=1)


@dataclass
class Job:
    delivery: MessageDelivery
    channel: MessageChannel
    attempt_ids: list
    parts: list
    first_part: int
    ambiguous: bool


def _window_wait(stamps: list, windows, needed: int, now: dt.datetime) -> dt.timedelta:
    """How long until ``needed`` more requests fit every ``(count, seconds)`` window, given the
    start times ``stamps`` of the requests already made (zero: now)."""
    wait = dt.timedelta(0)
    for count, seconds in windows:
        if needed > count:
            continue  # a message longer than a window was refused when queued
        span = dt.timedelta(seconds=seconds)
        recent = sorted(s for s in stamps if s > now - span)
        over = len(recent) + needed - count
        if over > 0:
            wait = max(wait, recent[over - 1] + span - now)
    return wait


def _lock_state(name: str) -> ChannelState:
    ChannelState.insert(channel=name).on_conflict_ignore().execute()
    query = ChannelState.select().where(ChannelState.channel == name)
    if is_postgres():
        query = query.for_update()
    return query.get()


def _stamps(channel: str, now: dt.datetime, seconds: int) -> list:
    since = now - dt.timedelta(seconds=seconds)
    return [
        row[0]
        for row in MessageAttempt.select(MessageAttempt.started_at)
        .where(MessageAttempt.channel == channel, MessageAttempt.started_at > since)
        .tuples()
    ]


def _address_stamps(address: str, now: dt.datetime, seconds: int) -> list:
    since = now - dt.timedelta(seconds=seconds)
    query = (
        MessageAttempt.select(MessageAttempt.started_at)
        .join(MessageDelivery)
        .where(
            MessageDelivery.address == address,
            MessageAttempt.outcome.in_([A_SENDING, A_SENT, A_UNKNOWN]),
            MessageAttempt.started_at > since,
        )
    )
    return [row[0] for row in query.tuples()]


def _sent_parts(delivery_id: int) -> int:
    return (
        MessageAttempt.select()
        .where(MessageAttempt.delivery == delivery_id, MessageAttempt.outcome == A_SENT)
        .count()
    )


def _last_outcome(delivery_id: int) -> str | None:
    return (
        MessageAttempt.select(MessageAttempt.outcome)
        .where(MessageAttempt.delivery == delivery_id)
        .order_by(MessageAttempt.id.desc())
        .limit(1)
        .scalar()
    )


def _claim(now: dt.datetime, limit: int, lease_seconds: float) -> list[Job]:
    channels = collect()
    with write_transaction():
        due = (MessageDelivery.status.in_([QUEUED, RETRYING]) & (MessageDelivery.next_attempt_at <= now)) | (
            (MessageDelivery.status == SENDING) & (MessageDelivery.lease_until < now)
        )
        rows = list(
            MessageDelivery.select()
            .where(due)
            .order_by(MessageDelivery.next_attempt_at, MessageDelivery.id)
            .limit(limit)
        )
        by_channel: dict[str, list] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        jobs = []
        for name in sorted(by_channel):
            jobs.extend(_claim_channel(name, channels.get(name), by_channel[name], now, lease_seconds))
    return jobs


def _postpone(row: MessageDelivery, until: dt.datetime) -> None:
    MessageDelivery.update(
        status=RETRYING if row.attempts else QUEUED,
        next_attempt_at=until,
        lease_until=None,
        updated_at=utcnow(),
    ).where(MessageDelivery.id == row.id).execute()


def _finish(row: MessageDelivery, status: str, code: str, error: str | None) -> None:
    MessageDelivery.update(
        status=status, last_code=code[:64], last_error=error, lease_until=None, updated_at=utcnow()
    ).where(MessageDelivery.id == row.id).execute()
    record_event(None, "message_" + status, "messaging", row.id, {"channel": row.channel, "code": code})


def _claim_channel(name, channel, rows, now, lease_seconds) -> list[Job]:
    if channel is None:
        for row in rows:
            _finish(row, FAILED, "no_channel", f"channel {name} is not configured (or inactive)")
        return []
    state = _lock_state(name)
    if state.blocked_until and state.blocked_until > now:
        for row in rows:
            _postpone(row, state.blocked_until)
        return []
    longest = max((seconds for _, seconds in channel.limits.windows), default=0)
    stamps = _stamps(name, now, longest) if longest else []
    jobs = []
    for row in rows:
        if row.purpose == "marketing":
            why = refusal(channel, row.purpose, row.customer_id, row.address)
            if why:  # consent withdrawn (or opted out) after it was queued
                _finish(row, REFUSED, why, None)
                continue
        parts = parts_of(channel, row.message)
        fresh = row.attempts == 0 and row.status != SENDING
        if row.status == SENDING:
            # its sender stopped (the lease ran out) after claiming: whatever it had under way may
            # have gone out, so it is looked up before it is sent again
            MessageAttempt.update(outcome=A_UNKNOWN, error="the sender stopped before the answer").where(
                MessageAttempt.delivery == row.id, MessageAttempt.outcome == A_SENDING
            ).execute()
        first = 0 if fresh else _sent_parts(row.id)
        needed = max(1, len(parts) - first)
        wait = _window_wait(stamps, channel.limits.windows, needed, now)
        if row.address and channel.limits.per_address:
            caps = channel.limits.per_address
            used = _address_stamps(row.address, now, max(s for _, s in caps))
            wait = max(wait, _window_wait(used, caps, 1, now))
            if wait > MAX_CAP_WAIT:
                _finish(row, FAILED, "frequency_cap", f"{row.address} is over its caps for a day")
                continue
        if wait > dt.timedelta(0):
            _postpone(row, now + wait)
            continue
        ambiguous = not fresh and _last_outcome(row.id) == A_UNKNOWN
        ids = []
        for n in range(needed):
            ids.append(
                MessageAttempt.insert(
                    delivery=row.id,
                    channel=name,
                    number=row.attempts + n + 1,
                    started_at=now,
                    outcome=A_SENDING,
                ).execute()
            )
            stamps.append(now)
        MessageDelivery.update(
            status=SENDING,
            lease_until=now + dt.timedelta(seconds=lease_seconds * needed),
            updated_at=utcnow(),
        ).where(MessageDelivery.id == row.id).execute()
        jobs.append(Job(row, channel, ids, parts, first, ambiguous))
    return jobs


def _call(function, *args) -> SendResult:
    try:
        result = function(*args)
    except Exception as exc:  # a channel's bug is that delivery's failure, not the job's
        log.exception("message channel raised")
        return SendResult(False, "exception", type(exc).__name__, retryable=True)
    return result if isinstance(result, SendResult) else SendResult(bool(result), "", "")


def _send(job: Job) -> list[tuple[int, SendResult, int]]:
    """Send the job's parts in order (stopping at the first failure): ``(attempt id, result,
    ms)`` for each request made."""
    row, channel = job.delivery, job.channel
    done = []
    for offset, attempt_id in enumerate(job.attempt_ids):
        index = job.first_part + offset
        message = {**row.message, "key": row.key or f"msg-{row.id}"}
        if len(job.parts) > 1:
            message.update(text=job.parts[index], part=index + 1, parts=len(job.parts))
            message["key"] = f"{message['key']}#{index + 1}"
        t0 = time.perf_counter()
        result = None
        if job.ambiguous and offset == 0 and channel.query is not None:
            result = _call(channel.query, row.recipient, message)
            if result is None:
                result = SendResult(
                    False,
                    "unknown",
                    "the provider cannot say yet whether it arrived",
                    retryable=True,
                    ambiguous=True,
                )
            elif not result.ok:
                result = None  # it did not arrive: send it now
        if result is None:
            result = _call(channel.send, row.recipient, message)
        done.append((attempt_id, result, int((time.perf_counter() - t0) * 1000)))
        if not result.ok:
            break
    return done


def _record(job: Job, done: list, now: dt.datetime, config) -> None:
    """Write one job's attempts and move its delivery on (inside the caller's transaction)."""
    row, channel = job.delivery, job.channel
    for attempt_id, result, ms in done:
        outcome = A_SENT if result.ok else (A_UNKNOWN if result.ambiguous else A_FAILED)
        MessageAttempt.update(
            outcome=outcome,
            code=(result.code or "")[:64],
            error=(result.message or None),
            retryable=result.retryable,
            duration_ms=ms,
        ).where(MessageAttempt.id == attempt_id).execute()
    unused = job.attempt_ids[len(done) :]
    if unused:  # parts after a failure were never requested: they do not count
        MessageAttempt.delete().where(MessageAttempt.id.in_(unused)).execute()
    attempts = row.attempts + len(done)
    last = done[-1][1]
    values = {
        "attempts": attempts,
        "lease_until": None,
        "updated_at": utcnow(),
        "last_code": (last.code or "")[:64],
    }
    if last.ok:
        values.update(status=SENT, sent_at=now, last_error=None, provider_ref=last.provider_ref)
    elif last.retryable and attempts < int(config.get(PREFIX + "MAX_ATTEMPTS") or 6):
        base = float(config.get(PREFIX + "RETRY_BASE_SECONDS") or 30)
        delay = max(last.retry_after or 0, backoff_delay(attempts, base=base, cap=6 * 3600))
        values.update(
            status=RETRYING, next_attempt_at=now + dt.timedelta(seconds=delay), last_error=last.message
        )
        if last.retry_after and channel.channel_kind == "robot":
            # the platform throttles the whole robot: hold every delivery of it
            ChannelState.update(blocked_until=now + dt.timedelta(seconds=last.retry_after)).where(
                ChannelState.channel == channel.name
            ).execute()
    else:
        values.update(status=FAILED, last_error=last.message)
        log.error("message %s on %s failed: %s %s", row.id, channel.name, last.code, last.message)
    MessageDelivery.update(values).where(MessageDelivery.id == row.id).execute()
    # a send is audited when it is queued (who, to whom, why); its log has the outcome. A
    # failure is audited too: an admin must act on it
    if values["status"] == FAILED:
        record_event(
            None,
            "message_" + values["status"],
            "messaging",
            row.id,
            {"channel": row.channel, "code": last.code, "attempts": attempts},
        )


def _release(job: Job, until: dt.datetime) -> None:
    """Give a claimed delivery back unsent (its reserved attempts were never requested)."""
    MessageAttempt.delete().where(MessageAttempt.id.in_(job.attempt_ids)).execute()
    _postpone(job.delivery, until)


def deliver_due(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Send the due deliveries (up to ``limit``) as of ``now`` and log each attempt; returns how
    many deliveries made requests."""
    config = current_app.config
    now = now or utcnow()
    token = _clock.set(now)
    try:
        lease = float(config.get(PREFIX + "TIMEOUT_SECONDS") or 10) * 2 + 30
        jobs = _claim(now, limit, lease)
        blocked: dict[str, dt.datetime] = {}
        outcomes, released = [], []
        for job in jobs:
            if job.channel.name in blocked:
                released.append((job, blocked[job.channel.name]))
                continue
            done = _send(job)
            outcomes.append((job, done))
            last = done[-1][1]
            if not last.ok and last.retry_after and job.channel.channel_kind == "robot":
                # the rest of this robot's batch would only meet the same block
                blocked[job.channel.name] = now + dt.timedelta(seconds=last.retry_after)
        # the batch's outcomes in one transaction (a process dying before it leaves leases that
        # run out: those deliveries are looked up or sent again)
        with write_transaction():
            for job, done in outcomes:
                _record(job, done, now, config)
            for job, until in released:
                _release(job, until)
        return len(outcomes)
    finally:
        _clock.reset(token)


def send_job(ctx) -> dict:
    """The scheduler job: :func:`deliver_due` at the run's clock."""
    return {"sent": deliver_due(now=getattr(ctx, "now", None))}
