"""Shared setup of the e-commerce tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cheap_hashing(request):
    """Cheap password hashing for tests that make users (the core's fixture)."""
    if "app" in request.fixturenames:
        request.getfixturevalue("fast_hashing")
