"""Settings for the whole core suite."""

from __future__ import annotations

import psycopg2.extensions
import pytest

from crm_core.entities.models import Tag


@pytest.fixture(autouse=True)
def _cheap_password_hashing(fast_hashing):
    """No core test is about argon2's cost, and many create users: hash cheaply everywhere
    (``crm_core.testing.fast_hashing``)."""


@pytest.fixture
def sent(app, db):
    """(PostgreSQL) What reaches the server: every ``cursor.execute`` of the pool's connections,
    from a connection already used once (its BEGIN no longer goes out at once)."""
    texts: list[str] = []

    class Counting(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            texts.append(query if isinstance(query, str) else query.decode())
            return super().execute(query, vars)

    db.close_all()
    real = db._connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)
        conn.cursor_factory = Counting
        return conn

    db._connect = connect
    with app.app_context():
        db.connect(reuse_if_open=True)
        Tag.select().count()  # the checkout's first use (its BEGIN would go out at once)
        texts.clear()
        yield texts
        db.close()
    db._connect = real
    db.close_all()
