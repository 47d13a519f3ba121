"""Multi-touch attribution: the rule-based models as pure functions.

A conversion's *path* is the ordered list of the converting person's touchpoints (sessions)
inside the lookback window, oldest first: ``t_1 ... t_n``. Each model gives every touch a credit
``c_i >= 0`` with ``sum(c_i) == 1`` (definitions in the reference notes, part B.3):

- ``first_touch``: ``c_1 = 1``.
- ``last_touch``: ``c_n = 1``.
- ``last_non_direct``: ``c_k = 1`` for the latest touch whose channel is not ``direct``; direct gets
  the credit (``c_n = 1``) only when every touch was direct.
- ``linear``: ``c_i = 1/n``.
- ``time_decay``: ``w_i = 2^(-days_before_conversion_i / half_life)``, ``c_i = w_i / sum(w)``.
- ``position_based``: one touch 1; two touches 0.5 each; otherwise 0.4 first, 0.4 last and 0.2
  shared equally by the middle touches.

Touches later than the conversion or older than the lookback window are not part of the path.
Ties (touches at the same instant) are ordered by their id, so every model is deterministic. The
SQL version in :mod:`crm_channel_tracking.sql` implements the same rules set-based and is tested
to agree with this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
DEFAULT_MODEL = "last_non_direct"
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_HALF_LIFE_DAYS = 7.0
DIRECT = "direct"


@dataclass(frozen=True)
class Touch:
    """One touchpoint of a path: when it happened, its channel group, and an id that orders ties."""

    at: dt.datetime
    channel: str
    id: int = 0
    campaign_id: int | None = None
    kol: str | None = None


@dataclass(frozen=True)
class Credit:
    """The share of one conversion given to one touch."""

    touch: Touch
    credit: float


def path_in_window(
    touches: Iterable[Touch], converted_at: dt.datetime, lookback_days: float = DEFAULT_LOOKBACK_DAYS
) -> list[Touch]:
    """The touches that form the path of a conversion at ``converted_at``: those in
    ``[converted_at - lookback, converted_at]`` (both ends included), oldest first, ties by id."""
    start = converted_at - dt.timedelta(days=lookback_days)
    return sorted((t for t in touches if start <= t.at <= converted_at), key=lambda t: (t.at, t.id))


def weights(
    path: Sequence[Touch],
    model: str,
    converted_at: dt.datetime,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> list[float]:
    """Credits of an already ordered, already windowed ``path`` under ``model`` (sum 1; [] if empty)."""
    n = len(path)
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}; choose from {', '.join(MODELS)}")
    if n == 0:
        return []
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "last_non_direct":
        chosen = next((i for i in range(n - 1, -1, -1) if path[i].channel != DIRECT), n - 1)
        return [1.0 if i == chosen else 0.0 for i in range(n)]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position_based":
        if n == 1:
            return [1.0]
        if n == 2:
            return [0.5, 0.5]
        middle = 0.2 / (n - 2)
        return [0.4] + [middle] * (n - 2) + [0.4]
    # time decay: weights halve every half_life days before the conversion, then normalised
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    raw = [2.0 ** (-days_between(t.at, converted_at) / half_life_days) for t in path]
    total = sum(raw)
    return [w / total for w in raw]


def attribute(
    touches: Iterable[Touch],
    converted_at: dt.datetime,
    model: str = DEFAULT_MODEL,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> list[Credit]:
    """Attribute one conversion: the credit of every touch of its path under ``model``.

    Returns one ``Credit`` per touch in the window (zero credits included, so callers see the
    whole path); an empty list when no touch falls in the window (an unattributed conversion).
    """
    path = path_in_window(touches, converted_at, lookback_days)
    return [
        Credit(t, c) for t, c in zip(path, weights(path, model, converted_at, half_life_days), strict=True)
    ]


def days_between(earlier: dt.datetime, later: dt.datetime) -> float:
    """Fractional days from ``earlier`` to ``later``."""
    return (later - earlier).total_seconds() / 86400.0
