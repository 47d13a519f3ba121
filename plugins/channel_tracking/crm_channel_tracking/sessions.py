"""Sessionization: a visitor's touchpoints split into sessions after a gap of inactivity.

A new session starts at a person's first touch and at every touch that comes more than
``timeout`` after the previous one (30 minutes by default, as PostHog, GA4, Matomo and Snowplow
do). A session takes its channel, campaign and KOL from its first touch, so a direct page view in
the middle of a visit that began from a KOL link still counts for the KOL. Attribution treats each
session as one touchpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from .attribution import Touch

DEFAULT_TIMEOUT_MINUTES = 30


@dataclass
class Session:
    """Consecutive touches of one person with no gap longer than the timeout."""

    touches: list[Touch] = field(default_factory=list)

    @property
    def start(self) -> Touch:
        """The first touch, which gives the session its channel."""
        return self.touches[0]

    @property
    def channel(self) -> str:
        return self.start.channel

    @property
    def started_at(self) -> dt.datetime:
        return self.start.at

    @property
    def ended_at(self) -> dt.datetime:
        return self.touches[-1].at


def sessionize(touches: Iterable[Touch], timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> list[Session]:
    """Split one person's touches into sessions (ordered by time, ties by id)."""
    gap = dt.timedelta(minutes=timeout_minutes)
    sessions: list[Session] = []
    previous = None
    for touch in sorted(touches, key=lambda t: (t.at, t.id)):
        if previous is None or touch.at - previous.at > gap:
            sessions.append(Session())
        sessions[-1].touches.append(touch)
        previous = touch
    return sessions


def session_touches(
    touches: Iterable[Touch], timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
) -> list[Touch]:
    """The touch that starts each session: the touchpoints attribution works on."""
    return [s.start for s in sessionize(touches, timeout_minutes)]
