"""Funnels: how many people go through ordered steps within a conversion window.

Definitions (reference notes, part B.5, PostHog's ordered funnels):

- A funnel is an ordered list of event types (``live_view -> follow -> order``, 观看-加粉-下单).
- A person reaches step ``k`` when, after an event of step 1 (the *start*), there are events of
  steps 2..k in that order, each at or after the previous step (strictly after when two
  consecutive steps name the same event type), the last no later than ``start + window``
  (default 14 days). Other events may happen in between. Steps out of order do not count.
- Each person counts once, at the deepest step any of their starts reaches; for the split by
  channel the person belongs to the channel of the earliest start that reaches that depth.
- ``count[k]`` = people reaching step k; step conversion = ``count[k] / count[k-1]``; overall
  conversion = ``count[k] / count[1]``.

Taking the earliest matching event for each next step is optimal for ordered funnels (any later
choice leaves fewer candidates for the steps after it), so the greedy scan below is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .metrics import rate

DEFAULT_WINDOW_DAYS = 14


@dataclass(frozen=True)
class FunnelEvent:
    """One event of a person: when, which type, an id for ties, and its session's channel."""

    at: dt.datetime
    type: str
    id: int = 0
    channel: str | None = None


def person_depth(
    events: Iterable[FunnelEvent],
    steps: Sequence[str],
    window: dt.timedelta,
    start_from: dt.datetime | None = None,
    start_before: dt.datetime | None = None,
) -> tuple[int, FunnelEvent | None]:
    """The deepest step one person reaches and the start event that reached it (0, None if none).

    ``start_from``/``start_before`` restrict which step-1 events may start the funnel (a report's
    date range); later steps may fall after ``start_before`` as long as they are in the window.
    """
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    best, best_start = 0, None
    for start in ordered:
        if start.type != steps[0]:
            continue
        if (start_from and start.at < start_from) or (start_before and start.at >= start_before):
            continue
        depth, current_at, deadline = 1, start.at, start.at + window
        for k in range(1, len(steps)):
            same_type = steps[k] == steps[k - 1]
            nxt = next(
                (
                    e
                    for e in ordered
                    if e.type == steps[k]
                    and (e.at > current_at or (e.at == current_at and not same_type))
                    and e.at <= deadline
                ),
                None,
            )
            if nxt is None:
                break
            depth, current_at = depth + 1, nxt.at
        if depth > best:
            best, best_start = depth, start
            if best == len(steps):
                break
    return best, best_start


def step_table(counts: Sequence[int], steps: Sequence[str]) -> list[dict]:
    """Rows ``{step, event_type, count, step_conversion, overall_conversion}`` from counts."""
    rows = []
    for k, (step, count) in enumerate(zip(steps, counts, strict=True)):
        rows.append(
            {
                "step": k + 1,
                "event_type": step,
                "count": count,
                "step_conversion": rate(count, counts[k - 1]) if k else (rate(1, 1) if count else None),
                "overall_conversion": rate(count, counts[0]),
            }
        )
    return rows


def funnel(
    people: Mapping[object, Iterable[FunnelEvent]],
    steps: Sequence[str],
    window_days: float = DEFAULT_WINDOW_DAYS,
    start_from: dt.datetime | None = None,
    start_before: dt.datetime | None = None,
) -> dict:
    """Funnel over ``people`` (person key -> their events): ``{"steps": [...], "by_channel":
    {channel: [...]}}`` with counts and conversions per step."""
    if len(steps) < 2:
        raise ValueError("a funnel needs at least two steps")
    window = dt.timedelta(days=window_days)
    counts = [0] * len(steps)
    by_channel: dict[str, list[int]] = {}
    for events in people.values():
        depth, start = person_depth(events, steps, window, start_from, start_before)
        if not depth:
            continue
        channel = (start.channel if start else None) or "unknown"
        per = by_channel.setdefault(channel, [0] * len(steps))
        for k in range(depth):
            counts[k] += 1
            per[k] += 1
    return {
        "steps": step_table(counts, steps),
        "by_channel": {ch: step_table(c, steps) for ch, c in sorted(by_channel.items())},
    }
