"""Retry timing shared by the event dispatcher, webhook deliveries and automation runs."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, base: float = 5.0, cap: float = 3600.0, jitter: float = 0.2, rng=random
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry): exponential
    ``base * 2**(attempt-1)``, capped at ``cap``, then spread by +/- ``jitter`` (a fraction) so
    that many failures at once do not retry in lockstep."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(0.0, delay * (1 + rng.uniform(-jitter, jitter)))
