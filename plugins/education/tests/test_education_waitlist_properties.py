"""Property test of the waiting list through the API: for any sequence of enrolments,
withdrawals, joins, accepts, declines and a growing class, the class never holds more than its
seats (active enrolments plus seats held for offers), no seat stays idle while someone waits,
and offers go in the order people joined."""

from __future__ import annotations

import pytest
from crm_education.models import Enrolment, WaitlistEntry
from education_testlib import E
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STUDENTS = 6
who = st.integers(0, STUDENTS - 1)
operations = st.lists(
    st.tuples(st.sampled_from(["enrol", "withdraw", "join", "join", "accept", "decline", "grow"]), who),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def app_config(app_config):
    """No rate limit: the test sends hundreds of requests a minute."""
    return {**app_config, "RATELIMIT_ENABLED": False}


@pytest.fixture
def people(school):
    return {"course": school.course("Drums"), "students": [school.student(f"P{i}") for i in range(STUDENTS)]}


def check(klass: int, capacity: int) -> None:
    active = Enrolment.select().where(Enrolment.klass == klass, Enrolment.status == "active").count()
    line = list(WaitlistEntry.select().where(WaitlistEntry.klass == klass).order_by(WaitlistEntry.id))
    offered = [e.id for e in line if e.status == "offered"]
    waiting = [e.id for e in line if e.status == "waiting"]
    assert active + len(offered) <= capacity
    if waiting:
        assert active + len(offered) == capacity  # a free seat is never left while someone waits
        assert not offered or max(offered) < min(waiting)  # first come, first offered


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_waiting_list_never_overfills_and_serves_in_order(client, admin_headers, school, people, ops):
    capacity = 2
    klass = school.klass(people["course"], None, None, capacity=capacity)
    students = people["students"]
    # the class starts full, so joins, withdrawals and offers happen from the first operation
    enrolled = {s: school.enrol(s, klass)["id"] for s in students[:capacity]}
    entries: dict[int, int] = {}
    for op, i in ops:
        student = students[i]
        if op == "enrol":
            r = client.post(
                f"{E}/enrolments", json={"customer_id": student, "class_id": klass}, headers=admin_headers
            )
            if r.status_code == 201:
                enrolled[student] = r.get_json()["id"]
        elif op == "withdraw" and student in enrolled:
            r = client.post(f"{E}/enrolments/{enrolled[student]}/withdraw", headers=admin_headers)
        elif op == "join":
            r = client.post(
                f"{E}/waitlist", json={"customer_id": student, "class_id": klass}, headers=admin_headers
            )
            if r.status_code == 201:
                entries[student] = r.get_json()["id"]
        elif op in ("accept", "decline") and student in entries:
            r = client.post(f"{E}/waitlist/{entries[student]}/{op}", headers=admin_headers)
            if op == "accept" and r.status_code == 200:
                enrolled[student] = r.get_json()["result_id"]
        elif op == "grow":
            capacity += 1
            r = client.patch(f"{E}/classes/{klass}", json={"capacity": capacity}, headers=admin_headers)
            assert r.status_code == 200, r.get_json()
        else:
            continue
        assert r.status_code < 500, r.get_json()
        check(klass, capacity)
