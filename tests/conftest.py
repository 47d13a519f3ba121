"""Settings for the whole core suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cheap_password_hashing(fast_hashing):
    """No core test is about argon2's cost, and many create users: hash cheaply everywhere
    (``crm_core.testing.fast_hashing``)."""
