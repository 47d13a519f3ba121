"""Property tests of the hours ledger through the API: for any sequence of roll calls (and their
corrections and repeats), transfers and refunds, every package's balance is the sum of its
entries, it is never negative unless ``EDUCATION_ALLOW_NEGATIVE_HOURS`` is on, a package with no
hours left holds no value, and each (student, session) has consumed exactly the session's hours
if the last mark was present and nothing otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from crm_education.models import Attendance, HourEntry, Package
from education_testlib import MONDAY, E, utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SESSIONS = 4
mark = st.tuples(
    st.just("mark"), st.integers(0, SESSIONS - 1), st.sampled_from(["present", "absent", "leave"])
)
transfer = st.tuples(st.just("transfer"), st.integers(0, 1), st.integers(1, 8))
refund = st.tuples(st.just("refund"), st.integers(0, 1), st.one_of(st.none(), st.integers(1, 6)))
repeat = st.tuples(st.just("repeat"))
operations = st.lists(st.one_of(mark, mark, mark, transfer, refund, repeat), min_size=1, max_size=12)


@pytest.fixture(params=[False, True], ids=["strict", "owed"])
def app_config(app_config, request):
    """The same app with negative balances refused, then allowed (and no rate limit: the test
    sends hundreds of requests a minute)."""
    return {**app_config, "EDUCATION_ALLOW_NEGATIVE_HOURS": request.param, "RATELIMIT_ENABLED": False}


@pytest.fixture
def timetable(school):
    course = school.course("Violin", hours="1.5")
    klass = school.klass(course, None, school.room())
    student = school.student("Property")
    school.enrol(student, klass)
    sessions = [
        school.session(klass, utc(MONDAY, 2 * i), utc(MONDAY, 2 * i + 1))["id"] for i in range(SESSIONS)
    ]
    return {"course": course, "student": student, "sessions": sessions}


def check(client, headers, packages, last_marks, sessions, allowed):
    for pid in packages:
        detail = client.get(f"{E}/packages/{pid}", headers=headers).get_json()
        rows = client.get(f"{E}/packages/{pid}/entries?page_size=200", headers=headers).get_json()
        hours = sum((Decimal(r["hours"]) for r in rows), Decimal(0))
        value = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
        assert Decimal(detail["balance"]) == hours
        assert allowed or hours >= 0, rows
        if hours == 0:
            assert value == 0, rows
        if hours > 0:
            assert value >= 0, rows
    for session, status in last_marks.items():
        taken = -sum(
            (Decimal(e.hours) for e in HourEntry.select().where(HourEntry.session_id == sessions[session])),
            Decimal(0),
        )
        assert taken == (Decimal("1.5") if status == "present" else 0), (session, status)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_ledger_balance_is_its_sum_and_roll_call_is_idempotent(
    app, client, admin_headers, school, timetable, ops
):
    HourEntry.delete().execute()
    Attendance.delete().execute()
    Package.delete().execute()
    allowed = app.config["EDUCATION_ALLOW_NEGATIVE_HOURS"]
    student, course = timetable["student"], timetable["course"]
    packages = [
        school.package(student, course, hours=h, price=p)["id"] for h, p in (("3", "300"), ("2", "250"))
    ]
    last_marks: dict[int, str] = {}
    previous = previous_ref = None
    for n, op in enumerate(ops):
        if op[0] == "repeat":
            if previous is None:
                continue
            op, replay = previous, True
        else:
            replay = False
        if op[0] == "mark":
            body = {"marks": [{"customer_id": student, "status": op[2]}]}
            r = client.post(
                f"{E}/sessions/{timetable['sessions'][op[1]]}/roll-call", json=body, headers=admin_headers
            )
            assert r.status_code in (200, 409), r.get_json()
            if r.status_code == 200:
                last_marks[op[1]] = op[2]
            else:
                # refused only for lack of hours, or (owed hours allowed) of any active package
                active = [
                    p
                    for p in packages
                    if client.get(f"{E}/packages/{p}", headers=admin_headers).get_json()["status"] == "active"
                ]
                assert op[2] == "present" and (not allowed or not active), r.get_json()
        elif op[0] == "transfer":
            source, target = packages[op[1]], packages[1 - op[1]]
            body = {
                "to_package_id": target,
                "hours": str(op[2]),
                "reference": f"t{n}" if not replay else previous_ref,
            }
            r = client.post(f"{E}/packages/{source}/transfer", json=body, headers=admin_headers)
            assert r.status_code in (201, 409), r.get_json()
            previous_ref = body["reference"]
        else:
            body = {"reference": f"r{n}" if not replay else previous_ref}
            if op[2] is not None:
                body["hours"] = str(op[2])
            r = client.post(f"{E}/packages/{packages[op[1]]}/refund", json=body, headers=admin_headers)
            assert r.status_code in (201, 409), r.get_json()
            previous_ref = body["reference"]
        previous = op
        check(client, admin_headers, packages, last_marks, timetable["sessions"], allowed)
