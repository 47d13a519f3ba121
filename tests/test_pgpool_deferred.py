"""BEGIN and savepoints wait for the next statement on PostgreSQL (``crm_core.pgpool``): fewer
round trips, the same outcome of every commit, release and rollback."""

from __future__ import annotations

import peewee as pw
import pytest

from crm_core.bulk import insert_one, insert_rows
from crm_core.entities.models import Tag

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


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


def _defer_tag(db, name: str) -> None:
    assert insert_one(Tag, {"name": name}, defer=True) is None


def test_a_deferred_write_goes_out_with_the_commit(db, sent):
    with db.atomic():
        Tag.create(name="written")
        _defer_tag(db, "deferred 100%")
    assert {"written", "deferred 100%"} <= names()
    assert len(sent) == 3, sent  # BEGIN with the insert; the deferred one with COMMIT; the read
    assert sent[1].startswith('INSERT INTO "tag"') and sent[1].endswith("COMMIT")


def test_a_deferred_write_goes_out_with_the_next_statement(db, sent):
    with db.atomic():
        Tag.create(name="first")
        _defer_tag(db, "second")
        assert "second" in names()  # the read carries it, and sees it
    assert len([s for s in sent if "second" in s]) == 1


def test_deferred_writes_under_a_rolled_back_savepoint_are_undone(db, sent):
    with db.atomic():
        Tag.create(name="stays")
        with pytest.raises(RuntimeError), db.atomic():
            _defer_tag(db, "never sent")
            raise RuntimeError
        with pytest.raises(RuntimeError), db.atomic():
            Tag.create(name="sent then undone")
            _defer_tag(db, "deferred then undone")
            raise RuntimeError
        with db.atomic():
            _defer_tag(db, "released")
    assert "stays" in names() and "released" in names()
    assert not names() & {"never sent", "sent then undone", "deferred then undone"}
    assert not any("never sent" in s for s in sent)


def test_a_failing_deferred_write_fails_the_transaction(db, sent):
    Tag.create(name="taken")
    with pytest.raises(pw.IntegrityError), db.atomic():
        Tag.create(name="lost with it")
        _defer_tag(db, "taken")
    assert "lost with it" not in names()
