"""A read whose bearer token this worker resolved before assumes its request stamps on
PostgreSQL (``crm_core.stamps.assume``): the check that they are current travels with its first
statement, and a read that met stale ones runs again from the start, so no answer comes from a
revision the database no longer holds."""

from __future__ import annotations

import contextlib
import io

import psycopg2
import pytest

from crm_core import stamps
from crm_core.entities.models import Tag
from crm_core.pgpool import ExpectationFailed

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

API = "/api/v1"


def _checks(texts: list[str]) -> list[str]:
    return [t for t in texts if stamps.STALE in t]


def _take_away(db_url: str, user_id: int, action: str | None = None) -> None:
    """Another worker takes the user's ``action`` right (every right) on customers away, and
    moves the revision as a change of grants does."""
    _elsewhere(
        db_url,
        "DELETE FROM permission_grant WHERE resource = 'customers' AND (%s IS NULL OR action = %s) "
        "AND role_id IN (SELECT role_id FROM user_role WHERE user_id = %s)",
        (action, action, user_id),
    )
    _elsewhere(db_url, "UPDATE permission_revision SET number = number + 1, nonce = md5(random()::text)")


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
    _take_away(db_url, user.id)  # another worker, right away
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


def test_a_write_assumes_its_stamps_and_that_its_key_is_new(client, kept, sent):
    _user, headers = kept
    keyed = {**headers, "Idempotency-Key": "assumed-1"}
    r = client.post(f"{API}/customers", json={"name": "Written"}, headers=keyed)
    assert r.status_code == 201, r.get_json()
    (check,) = _checks(sent)
    assert check.startswith("BEGIN; ") and '"idempotency_key"' in check  # the key's absence too
    assert not any('"permission_revision"' in t and stamps.STALE not in t for t in sent)
    # the same key again: the check fails, the request runs again reading its key, and replays
    sent.clear()
    again = client.post(f"{API}/customers", json={"name": "Written"}, headers=keyed)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["id"] == r.get_json()["id"]
    assert len(_checks(sent)) == 1


def test_a_write_under_a_moved_revision_runs_again_and_is_refused(client, kept, db_url, sent):
    user, headers = kept
    _take_away(db_url, user.id, "create")
    r = client.post(f"{API}/customers", json={"name": "Refused"}, headers=headers)
    assert r.status_code == 403, r.get_json()
    admin = client.get(f"{API}/customers?q=Refused", headers=headers)
    assert admin.status_code == 200 and admin.get_json() == []


def test_an_upload_reads_its_stamps_first(client, kept, sent):
    _user, headers = kept
    upload = {"file": (io.BytesIO(b"name\nUploaded\n"), "c.csv")}
    client.post(f"{API}/customers/import", data=upload, headers=headers, content_type="multipart/form-data")
    assert not _checks(sent)
    assert '"permission_revision"' in sent[0]


def test_a_discarded_answer_is_neither_logged_nor_counted(client, kept, db_url, caplog):
    _user, headers = kept
    _elsewhere(db_url, "UPDATE permission_revision SET number = number + 1, nonce = md5(random()::text)")
    with caplog.at_level("INFO", logger="crm_core.request"):
        assert client.get(f"{API}/customers", headers=headers).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "crm_core.request"]
    assert lines == [lines[0]] and " 200 " in lines[0], lines


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
