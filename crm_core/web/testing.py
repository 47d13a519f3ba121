"""Test helpers for workbench pages (core and plugins): read the CSRF token from a page, log in
through the form, post a form with a valid token."""

from __future__ import annotations

import re

from ..testing import TEST_PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client, path="/login") -> str:
    """The CSRF token the page at ``path`` carries (for the current session of ``client``)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def web_login(client, username, password=TEST_PASSWORD):
    """Log ``client`` in through the login form; returns the response."""
    token = csrf_from(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def post_form(client, path, data, page=None, **kwargs):
    """POST a form to ``path`` with a valid CSRF token taken from ``page`` (default: ``path``)."""
    token = csrf_from(client, page or path)
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)
