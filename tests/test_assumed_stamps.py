"""A read whose bearer token this worker resolved before assumes its request stamps on
PostgreSQL (``crm_core.stamps.assume``): the check that they are current travels with its first
statement, and a read that met stale ones runs again from the start, so no answer comes from a
revision the database no longer holds."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from crm_core import stamps
from crm_core.entities.models import Tag
from crm_core.pgpool import ExpectationFailed

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

API = "/api/v1"


def _checks(texts: list[str]) -> list[str]:
    return [t for t in texts if stamps.STALE in t]


def _elsewhere(db_url: str, sql: str, params=()) -> None:
    """Run ``sql`` on a connection of its own, committed, as another worker would."""
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


@pytest.fixture
def kept(client, make_user):
    """A sales rep whose token this worker has resolved (and their headers)."""
    user, headers = make_user(roles=["sales"])
    assert client.get(f"{API}/customers", headers=headers).status_code == 200
    return user, headers


def test_the_check_goes_with_the_reads_first_statement(client, kept, sent):
    _user, headers = kept
    r = client.get(f"{API}/customers", headers=headers)
    assert r.status_code == 200
    assert len(_checks(sent)) == 1, sent
    first = sent[0]
    assert first.index(stamps.STALE) < first.index('"customer"'), first  # one round trip, check first
    assert not any('"access_token"' in t for t in sent)
    assert not any('"permission_revision"' in t and stamps.STALE not in t for t in sent)


def test_a_revision_moved_by_another_worker_runs_the_read_again(client, kept, db_url, sent):
    user, headers = kept
    # another worker takes the rep's read right away (grants change: the revision moves)
    _elsewhere(
        db_url,
        "DELETE FROM permission_grant WHERE resource = %s AND role_id IN "
        "(SELECT r.id FROM role r JOIN user_role ur ON ur.role_id = r.id WHERE ur.user_id = %s)",
        ("customers", user.id),
    )
    _elsewhere(db_url, "UPDATE permission_revision SET number = number + 1, nonce = md5(random()::text)")
    r = client.get(f"{API}/customers", headers=headers)
    assert r.status_code == 403, r.get_json()
    assert len(_checks(sent)) == 1  # assumed once, failed, then read: not assumed again
    assert any('"permission_revision"' in t and stamps.STALE not in t for t in sent)
    # and the next read assumes the revision it read
    sent.clear()
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    assert len(_checks(sent)) == 1


def test_a_read_that_sends_no_statement_is_checked_before_it_answers(client, kept, db_url, sent):
    user, headers = kept
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    _elsewhere(db_url, 'UPDATE "user" SET is_active = false WHERE id = %s', (user.id,))
    assert client.get(f"{API}/users/me", headers=headers).status_code == 401


def test_a_write_reads_its_stamps_first(client, kept, sent):
    _user, headers = kept
    r = client.post(f"{API}/customers", json={"name": "Written"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    assert not _checks(sent)
    assert '"permission_revision"' in sent[0]


def _failing_check(db) -> str:
    return db.render("SELECT CAST(%s AS integer)", [stamps.STALE])


def test_a_failed_check_stops_its_statement_and_is_remembered(app, db, sent):
    db.expect(_failing_check(db), stamps.STALE)
    with pytest.raises(ExpectationFailed):
        Tag.create(name="never")
    assert db.failed_expectation() and not db.failed_expectation()  # read once
    assert Tag.select().where(Tag.name == "never").count() == 0
    db.expect(_failing_check(db), stamps.STALE)
    with contextlib.suppress(ExpectationFailed):  # swallowed by the caller: still known
        Tag.select().count()
    assert db.failed_expectation()


def test_in_a_transaction_the_check_follows_begin_and_a_failure_rolls_back(app, db, sent):
    db.expect(_failing_check(db), stamps.STALE)
    with pytest.raises(ExpectationFailed), db.atomic():
        Tag.create(name="in tx")
    assert sent[0].startswith("BEGIN; SELECT CAST("), sent
    assert Tag.select().where(Tag.name == "in tx").count() == 0
    db.expect(db.render("SELECT CAST(%s AS integer)", ["1"]), stamps.STALE)
    with db.atomic():
        Tag.create(name="checked")
    assert Tag.select().where(Tag.name == "checked").count() == 1


def test_confirm_sends_a_check_no_statement_carried(app, db, sent):
    db.confirm()
    assert sent == []  # nothing waits: nothing sent
    db.expect(_failing_check(db), stamps.STALE)
    with pytest.raises(ExpectationFailed):
        db.confirm()
    db.expect(db.render("SELECT CAST(%s AS integer)", ["1"]), stamps.STALE)
    db.confirm()
    assert len(sent) == 2 and not db.failed_expectation()
