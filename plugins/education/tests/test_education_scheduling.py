"""Sessions never clash: the half-open rule for teacher, room and student, cancelled sessions
free their slot, a term is generated from a weekly pattern skipping holidays (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from education_testlib import MONDAY, E, ok, utc


@pytest.fixture
def setup(school, make_user):
    teacher, _ = make_user("teacher_a", roles=())
    other_teacher, _ = make_user("teacher_b", roles=())
    course = school.course()
    room = school.room("Room A", 10)
    other_room = school.room("Room B", 10)
    first = school.klass(course, teacher.id, room)
    return {
        "school": school,
        "course": course,
        "teacher": teacher.id,
        "other_teacher": other_teacher.id,
        "room": room,
        "other_room": other_room,
        "first": first,
    }


@pytest.mark.parametrize(
    ("start", "end", "clashes"),
    [
        ((9, 0), (10, 0), True),  # the Frappe miss: same start, ends earlier
        ((9, 0), (11, 0), True),  # identical
        ((8, 0), (12, 0), True),  # encloses
        ((9, 30), (10, 30), True),  # inside
        ((10, 59), (12, 0), True),  # overlaps the end by a minute
        ((11, 0), (12, 0), False),  # back to back after
        ((8, 0), (9, 0), False),  # back to back before
        ((12, 0), (13, 0), False),
    ],
)
@pytest.mark.parametrize("shared", ["teacher", "room"])
def test_half_open_rule_for_teacher_and_room(setup, start, end, clashes, shared):
    s = setup["school"]
    s.session(setup["first"], utc(MONDAY, 9), utc(MONDAY, 11))
    # a second class sharing only the teacher, or only the room
    teacher = setup["teacher"] if shared == "teacher" else setup["other_teacher"]
    room = setup["room"] if shared == "room" else setup["other_room"]
    second = s.klass(setup["course"], teacher, room)
    body = s.session(second, utc(MONDAY, *start), utc(MONDAY, *end), status=409 if clashes else 201)
    if clashes:
        field = "teacher_id" if shared == "teacher" else "room_id"
        assert list(body["errors"]) == [field], body
        assert "busy with session" in body["errors"][field][0]


def test_student_clash_across_classes(setup, school):
    student = school.student("Li Lei")
    second = school.klass(setup["course"], setup["other_teacher"], setup["other_room"])
    school.enrol(student, setup["first"])
    school.enrol(student, second)
    school.session(setup["first"], utc(MONDAY, 9), utc(MONDAY, 11))
    body = school.session(second, utc(MONDAY, 10), utc(MONDAY, 12), status=409)
    assert (
        list(body["errors"]) == ["students"] and f"Student {student} is busy" in body["errors"]["students"][0]
    )
    # enrolling a student whose timetable would clash is refused too
    third = school.klass(setup["course"], None, None)
    school.session(third, utc(MONDAY, 10, 30), utc(MONDAY, 11, 30))
    assert "students" in school.enrol(student, third, status=409)["errors"]


def test_cancelled_sessions_never_clash(setup, school, client, admin_headers):
    first = school.session(setup["first"], utc(MONDAY, 9), utc(MONDAY, 11))
    second = school.klass(setup["course"], setup["teacher"], setup["room"])
    school.session(second, utc(MONDAY, 9), utc(MONDAY, 11), status=409)
    ok(client.patch(f"{E}/sessions/{first['id']}", json={"status": "cancelled"}, headers=admin_headers))
    school.session(second, utc(MONDAY, 9), utc(MONDAY, 11))
    # reviving the cancelled one now clashes with the session that took its slot
    r = client.patch(f"{E}/sessions/{first['id']}", json={"status": "scheduled"}, headers=admin_headers)
    assert r.status_code == 409, r.get_json()


def test_moving_a_session_is_checked_against_others_not_itself(setup, school, client, admin_headers):
    first = school.session(setup["first"], utc(MONDAY, 9), utc(MONDAY, 11))
    school.session(setup["first"], utc(MONDAY, 13), utc(MONDAY, 15))
    ok(client.patch(f"{E}/sessions/{first['id']}", json={"ends_at": utc(MONDAY, 12)}, headers=admin_headers))
    r = client.patch(
        f"{E}/sessions/{first['id']}", json={"ends_at": utc(MONDAY, 13, 30)}, headers=admin_headers
    )
    assert r.status_code == 409


def test_bad_slot_is_422(setup, school):
    body = school.session(setup["first"], utc(MONDAY, 11), utc(MONDAY, 9), status=422)
    assert "ends_at" in body["errors"]


def test_generate_a_term_skips_holidays_and_reports_clashes(setup, school, client, admin_headers):
    # Labour day week: 2027-05-03 (a Monday) is a holiday
    school.post("/holidays", {"day": "2027-05-03", "name": "Labour Day"})
    other = school.klass(setup["course"], setup["teacher"], setup["other_room"])
    # the teacher already teaches on Wednesday 2027-05-12 at 01:30 UTC (09:30 local)
    school.session(other, utc(dt.date(2027, 5, 12), 1, 30), utc(dt.date(2027, 5, 12), 2, 30))
    pattern = {
        "from": "2027-04-26",
        "until": "2027-05-16",
        "weekdays": [0, 2],
        "start": "09:00",
        "end": "10:30",
    }
    report = ok(
        client.post(f"{E}/classes/{setup['first']}/generate", json=pattern, headers=admin_headers), 201
    )
    assert report["holidays"] == ["2027-05-03"]
    assert [c["day"] for c in report["clashes"]] == ["2027-05-12"]
    assert report["clashes"][0]["clashes"][0]["resource"] == "teacher"
    # Mon 4-26, Wed 4-28, Wed 5-5, Mon 5-10 (5-3 a holiday, 5-12 a clash)
    assert report["created"] == 4
    rows = ok(client.get(f"{E}/sessions?class_id={setup['first']}&sort=starts_at", headers=admin_headers))
    assert [r["day"] for r in rows] == ["2027-04-26", "2027-04-28", "2027-05-05", "2027-05-10"]
    # 09:00 in Shanghai is 01:00 UTC
    assert rows[0]["starts_at"].startswith("2027-04-26T01:00:00")
    # generating again creates nothing: every slot now clashes with the class's own sessions
    again = ok(
        client.post(f"{E}/classes/{setup['first']}/generate", json=pattern, headers=admin_headers), 201
    )
    assert again["created"] == 0 and len(again["clashes"]) == 5  # the 4 and the teacher's 5-12


def test_capacity_is_the_smaller_of_class_and_room(setup, school):
    small_room = school.room("Small", 2)
    klass = school.klass(setup["course"], None, small_room, capacity=5)
    students = [school.student(f"S{i}") for i in range(3)]
    school.enrol(students[0], klass)
    school.enrol(students[1], klass)
    body = school.enrol(students[2], klass, status=409)
    assert "full" in body["message"].lower()
    school.enrol(students[0], klass, status=409)  # twice in one class


def test_clash_is_explained_in_chinese(setup, school, client, admin_headers):
    school.session(setup["first"], utc(MONDAY, 9), utc(MONDAY, 11))
    second = school.klass(setup["course"], setup["teacher"], setup["other_room"])
    body = {"class_id": second, "starts_at": utc(MONDAY, 10), "ends_at": utc(MONDAY, 12)}
    r = client.post(f"{E}/sessions", json=body, headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 409
    assert r.get_json()["message"] == "该时段与其他课节冲突。"
    assert r.get_json()["errors"]["teacher_id"][0].startswith(f"老师 {setup['teacher']} 已有课节")
