"""Shared setup of the medical tests: a clinic (three departments, four roles each) and cheap
password hashing (the suite makes many users)."""

from __future__ import annotations

import pytest
from medical_testlib import make_clinic


@pytest.fixture(autouse=True)
def _cheap_hashing(request):
    if "app" in request.fixturenames:
        request.getfixturevalue("fast_hashing")


@pytest.fixture
def clinic(client, admin_headers, make_user):
    """Departments internal, surgery, psychiatry (and internal/cardiology), staff in each."""
    return make_clinic(client, admin_headers, make_user)
