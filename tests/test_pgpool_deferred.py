"""BEGIN and savepoints wait for the next statement on PostgreSQL (``crm_core.pgpool``): fewer
round trips, the same outcome of every commit, release and rollback."""

from __future__ import annotations

import peewee as pw
import psycopg2.extensions
import pytest

from crm_core.bulk import insert_rows
from crm_core.entities.models import Tag

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def sent(app, db):
    """What reaches the server: every ``cursor.execute`` of the pool's connections."""
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


def names() -> set[str]:
    return {t.name for t in Tag.select(Tag.name)}


def test_a_nested_write_travels_with_its_savepoint(db, sent):
    with db.atomic():
        Tag.create(name="outer")
        with db.atomic():
            Tag.create(name="inner")
    assert names() >= {"outer", "inner"}
    assert len(sent) == 4, sent  # BEGIN with an insert, SAVEPOINT with the other, COMMIT, the read
    assert sent[0].startswith("BEGIN; INSERT") and sent[1].startswith("SAVEPOINT ")
    assert "RELEASE SAVEPOINT" not in " ".join(sent)  # released just before the commit: not sent


def test_a_rolled_back_savepoint_undoes_exactly_its_writes(db, sent):
    with db.atomic():
        Tag.create(name="kept")
        with pytest.raises(pw.IntegrityError), db.atomic():
            Tag.create(name="gone")
            Tag.create(name="kept")  # a conflict: the savepoint rolls back
        Tag.create(name="after")
    assert {"kept", "after"} <= names() and "gone" not in names()


def test_savepoints_nobody_wrote_under_are_never_sent(db, sent):
    with db.atomic():
        with db.atomic(), db.atomic() as inner:
            inner.rollback()
        Tag.create(name="only")
    assert not any("SAVEPOINT" in s for s in sent), sent
    assert "only" in names()


def test_an_empty_transaction_sends_nothing(db, sent):
    with db.atomic(), db.atomic():
        pass
    assert sent == []


def test_a_direct_cursor_gets_the_savepoint_first(db, sent):
    with db.atomic():
        Tag.create(name="before")
        with pytest.raises(RuntimeError), db.atomic():
            insert_rows(Tag, ["name"], [("bulk-1",), ("bulk-2",)])  # the driver's cursor
            raise RuntimeError("undo")
    assert "before" in names() and not names() & {"bulk-1", "bulk-2"}


def test_a_failed_statement_still_rolls_back_to_its_savepoint(db, sent):
    Tag.create(name="taken")
    with db.atomic():
        with pytest.raises(pw.IntegrityError), db.atomic():
            Tag.create(name="taken")  # SAVEPOINT and INSERT in one round trip; the INSERT fails
        Tag.create(name="usable afterwards")
    assert "usable afterwards" in names()


def test_a_released_savepoint_goes_out_with_the_next_statement(db, sent):
    with db.atomic():
        with db.atomic():
            Tag.create(name="first")
        Tag.create(name="second")
    assert any(s.startswith("RELEASE SAVEPOINT") and "INSERT" in s for s in sent), sent
    assert {"first", "second"} <= names()
