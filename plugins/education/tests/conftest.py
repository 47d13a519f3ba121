"""Shared fixtures of the education tests."""

from __future__ import annotations

import pytest
from education_testlib import School


@pytest.fixture
def school(client, admin_headers):
    """A :class:`School` builder acting as an admin."""
    return School(client, admin_headers)
