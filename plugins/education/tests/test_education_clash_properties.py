"""Property test of the timetable: whatever sequence of bookings, moves and cancellations is
tried, the API accepts exactly the ones that clash with nothing, so no accepted schedule ever
contains a clash (teacher, room or student), checked against a brute-force model."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from crm_education.models import Session
from education_testlib import MONDAY, E
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# three classes: A and B share the teacher, B and C the room, A and C a student
CLASSES = ("A", "B", "C")
SHARES = {("A", "B"), ("B", "C"), ("A", "C")}
BASE = dt.datetime.combine(MONDAY, dt.time(0, 0))

slot = st.tuples(st.integers(0, 24), st.integers(1, 8))  # start and length in quarter hours
book = st.tuples(st.just("book"), st.sampled_from(CLASSES), slot)
move = st.tuples(st.just("move"), st.integers(0, 20), slot)
cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
revive = st.tuples(st.just("revive"), st.integers(0, 20))
operations = st.lists(st.one_of(book, book, book, move, cancel, revive), min_size=1, max_size=14)


def instant(quarters: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=15 * quarters)


def iso(value: dt.datetime) -> str:
    return value.isoformat() + "Z"


@pytest.fixture
def app_config(app_config):
    """No rate limit: the examples send hundreds of bookings a minute."""
    return {**app_config, "RATELIMIT_ENABLED": False}


@pytest.fixture
def classes(school, make_user):
    t1, _ = make_user("prop_t1", roles=())
    t3, _ = make_user("prop_t3", roles=())
    course = school.course()
    r1, r2 = school.room("R1"), school.room("R2")
    ids = {
        "A": school.klass(course, t1.id, r1),
        "B": school.klass(course, t1.id, r2),
        "C": school.klass(course, t3.id, r2),
    }
    student = school.student("Shared")
    school.enrol(student, ids["A"])
    school.enrol(student, ids["C"])
    return ids


def shares(a: str, b: str) -> bool:
    return a == b or (a, b) in SHARES or (b, a) in SHARES


def clashes(model: dict, klass: str, start, end, exclude=None) -> bool:
    return any(
        sid != exclude
        and not row["cancelled"]
        and shares(klass, row["class"])
        and start < row["end"]
        and row["start"] < end
        for sid, row in model.items()
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_no_accepted_schedule_contains_a_clash(client, admin_headers, classes, ops):
    Session.delete().execute()
    model: dict[int, dict] = {}
    order: list[int] = []
    for op in ops:
        kind = op[0]
        if kind == "book":
            klass, (q, length) = op[1], op[2]
            start, end = instant(q), instant(q + length)
            expected = 409 if clashes(model, klass, start, end) else 201
            r = client.post(
                f"{E}/sessions",
                json={"class_id": classes[klass], "starts_at": iso(start), "ends_at": iso(end)},
                headers=admin_headers,
            )
            assert r.status_code == expected, (op, r.get_json(), model)
            if expected == 201:
                sid = r.get_json()["id"]
                model[sid] = {"class": klass, "start": start, "end": end, "cancelled": False}
                order.append(sid)
            continue
        if not order:
            continue
        sid = order[op[1] % len(order)]
        row = model[sid]
        if kind == "move":
            q, length = op[2]
            start, end = instant(q), instant(q + length)
            busy = not row["cancelled"] and clashes(model, row["class"], start, end, exclude=sid)
            body = {"starts_at": iso(start), "ends_at": iso(end)}
        elif kind == "cancel":
            busy, body = False, {"status": "cancelled"}
        else:
            busy = row["cancelled"] and clashes(model, row["class"], row["start"], row["end"], exclude=sid)
            body = {"status": "scheduled"}
        r = client.patch(f"{E}/sessions/{sid}", json=body, headers=admin_headers)
        assert r.status_code == (409 if busy else 200), (op, r.get_json(), model)
        if not busy:
            if kind == "move":
                row["start"], row["end"] = start, end
            row["cancelled"] = {"cancel": True, "revive": False}.get(kind, row["cancelled"])

    # the stored timetable itself: no two live sessions sharing a resource overlap
    live = list(Session.select().where(Session.status != "cancelled"))
    by_id = {v: k for k, v in classes.items()}
    for a, b in itertools.combinations(live, 2):
        if shares(by_id[a.class_id], by_id[b.class_id]):
            assert not (a.starts_at < b.ends_at and b.starts_at < a.ends_at), (a.id, b.id)
    assert {s.id for s in live} == {sid for sid, row in model.items() if not row["cancelled"]}
