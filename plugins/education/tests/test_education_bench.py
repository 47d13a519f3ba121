"""Bench (PostgreSQL, marked slow): a term of sessions for 500 classes, and roll call of 10,000
attendances, each through the plugin's code and through hand-written SQL in the same run, on the
same data. The two must end in the same state (that is what this asserts); the timings and their
ratio are printed (``pytest -s -m slow -k postgres plugins/education/tests/test_education_bench.py``).

Sizes: ``EDUCATION_BENCH_CLASSES`` (500), ``EDUCATION_BENCH_STUDENTS`` per class (20), a term of
``EDUCATION_BENCH_WEEKS`` (16) weeks on two weekdays, one holiday in it.

The plugin's generation checks every slot for clashes (teacher, room, the class's students) under
locks, in one transaction per class, and writes an audit entry per class; the baseline is one
``INSERT ... SELECT`` over ``generate_series`` with the same clash test as ``NOT EXISTS``. The
plugin's roll call, one call per session, writes per student an attendance, a ledger entry
(with its audit entry and outbox row) and a ``lesson.attended`` event; the baseline is two
statements (attendances, then consume entries) without audit or events.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal

import peewee as pw
import pytest
from crm_education import rollcall, sessions
from crm_education.models import (
    Attendance,
    Course,
    Enrolment,
    Holiday,
    HourEntry,
    Klass,
    Package,
    Room,
    Session,
)

from crm_core.plugin_api import Customer, actor_for_user, database, is_postgres, utcnow, write_transaction
from crm_core.testing import user_with_token

pytestmark = pytest.mark.slow

CLASSES = int(os.environ.get("EDUCATION_BENCH_CLASSES", "500"))
STUDENTS = int(os.environ.get("EDUCATION_BENCH_STUDENTS", "20"))
WEEKS = int(os.environ.get("EDUCATION_BENCH_WEEKS", "16"))
FIRST = dt.date(2027, 3, 1)  # a Monday
HOLIDAY = FIRST + dt.timedelta(days=8)  # the second Tuesday: one lesson fewer per class
TZ = "Asia/Shanghai"

GENERATE_SQL = """
INSERT INTO education_session (class_id, teacher_id, department_id, room_id, day, starts_at, ends_at, hours,
                               status, created_at, updated_at)
SELECT c.id, c.teacher_id, c.department_id, c.room_id, d::date,
       ((d::date + c.slot_start) AT TIME ZONE %(tz)s) AT TIME ZONE 'UTC',
       ((d::date + c.slot_end) AT TIME ZONE %(tz)s) AT TIME ZONE 'UTC',
       co.hours_per_session, 'scheduled', now(), now()
FROM (SELECT k.*, time '16:00' + (k.id %% 2) * interval '2 hours' AS slot_start,
             time '17:30' + (k.id %% 2) * interval '2 hours' AS slot_end FROM education_class k) c
JOIN education_course co ON co.id = c.course_id
CROSS JOIN generate_series(%(first)s::date, %(last)s::date, interval '1 day') d
WHERE extract(isodow FROM d) IN (2, 4)
  AND d::date NOT IN (SELECT day FROM education_holiday)
  AND NOT EXISTS (
      SELECT 1 FROM education_session s
      WHERE s.status <> 'cancelled'
        AND (s.teacher_id = c.teacher_id OR s.room_id = c.room_id)
        AND s.starts_at < ((d::date + c.slot_end) AT TIME ZONE %(tz)s) AT TIME ZONE 'UTC'
        AND s.ends_at > ((d::date + c.slot_start) AT TIME ZONE %(tz)s) AT TIME ZONE 'UTC')
"""

ROLL_CALL_SQL = [
    """
    INSERT INTO education_attendance (session_id, customer_id, status, actor_id, at, created_at, updated_at)
    SELECT s.id, e.customer_id, 'present', NULL, now(), now(), now()
    FROM education_session s JOIN education_enrolment e ON e.class_id = s.class_id AND e.status = 'active'
    WHERE s.id IN (SELECT MIN(id) FROM education_session GROUP BY class_id)
    """,
    """
    INSERT INTO education_hour_entry (package_id, kind, hours, amount, reference, session_id, note, actor_id, at,
                                      created_at, updated_at)
    SELECT p.id, 'consume', -s.hours, -ROUND(s.hours * p.price / p.hours, 2), 'session:' || s.id || ':1', s.id, '',
           NULL, now(), now(), now()
    FROM education_attendance a
    JOIN education_session s ON s.id = a.session_id
    JOIN education_class k ON k.id = s.class_id
    JOIN education_package p ON p.customer_id = a.customer_id AND p.course_id = k.course_id
    WHERE a.status = 'present'
    """,
]


def _school() -> None:
    """Courses, a room and a teacher id per class, students with a package each, enrolled."""
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    course = Course.create(name="Bench", hours_per_session=Decimal("1.5"))
    Room.insert_many(
        [{"name": f"R{i}", "capacity": STUDENTS, "custom": {}, **stamps} for i in range(CLASSES)]
    ).execute()
    rooms = [r.id for r in Room.select(Room.id).order_by(Room.id)]
    # teacher ids are plain integers (no user rows needed for the timetable); two classes per
    # teacher at different hours, so the teacher check has rows to look at
    Klass.insert_many(
        [
            {
                "name": f"K{i}",
                "course": course.id,
                "teacher_id": 100000 + i // 2,
                "room": rooms[i],
                "capacity": STUDENTS,
                "term": "bench",
                "custom": {},
                **stamps,
            }
            for i in range(CLASSES)
        ]
    ).execute()
    Customer.insert_many(
        [{"name": f"Student {i}", "custom": {}, **stamps} for i in range(CLASSES * STUDENTS)]
    ).execute()
    students = [c.id for c in Customer.select(Customer.id).order_by(Customer.id)]
    classes = [k.id for k in Klass.select(Klass.id).order_by(Klass.id)]
    Enrolment.insert_many(
        [
            {"customer_id": s, "klass": classes[n // STUDENTS], "status": "active", "custom": {}, **stamps}
            for n, s in enumerate(students)
        ]
    ).execute()
    Package.insert_many(
        [
            {
                "customer_id": s,
                "course": course.id,
                "hours": Decimal("20"),
                "price": Decimal("3000"),
                "valid_from": dt.date(2027, 1, 1),
                "status": "active",
                "custom": {},
                **stamps,
            }
            for s in students
        ]
    ).execute()
    HourEntry.insert_many(
        [
            {
                "package": p.id,
                "kind": "purchase",
                "hours": Decimal("20"),
                "amount": Decimal("3000"),
                "reference": "purchase",
                "note": "",
                "at": now,
                **stamps,
            }
            for p in Package.select(Package.id)
        ]
    ).execute()
    Holiday.create(day=HOLIDAY, name="Qingming")


def _pattern(klass_id: int) -> dict:
    offset = dt.timedelta(hours=2 * (klass_id % 2))  # the two classes of a teacher do not overlap
    start = (dt.datetime.combine(FIRST, dt.time(16, 0)) + offset).time()
    end = (dt.datetime.combine(FIRST, dt.time(17, 30)) + offset).time()
    return {
        "from": FIRST,
        "until": FIRST + dt.timedelta(weeks=WEEKS, days=-1),
        "weekdays": [1, 3],
        "start": start,
        "end": end,
    }


def _timetable() -> list[tuple]:
    return list(
        Session.select(Session.klass, Session.starts_at, Session.ends_at)
        .order_by(Session.klass, Session.starts_at)
        .tuples()
    )


def _sums():
    return (
        HourEntry.select(HourEntry.package, pw.fn.SUM(HourEntry.hours)).group_by(HourEntry.package).tuples()
    )


def _reset_timetable() -> None:
    HourEntry.delete().where(HourEntry.kind != "purchase").execute()
    Attendance.delete().execute()
    Session.delete().execute()


def test_bench_term_generation_and_roll_call_against_hand_written_sql(app, db_url):
    if not is_postgres():
        pytest.skip("the hand-written baseline is PostgreSQL SQL")
    user, _ = user_with_token("bench_admin", ("admin",))
    actor = actor_for_user(user)
    _school()
    classes = list(Klass.select().order_by(Klass.id))

    started = time.perf_counter()
    created = 0
    for klass in classes:
        with write_transaction():
            created += sessions.generate(klass, _pattern(klass.id), actor)["created"]
    plugin_generate = time.perf_counter() - started
    plugin_sessions = _timetable()

    first = {}
    for s in Session.select(Session.id, Session.klass).order_by(Session.id):
        first.setdefault(s.class_id, s.id)
    marks_of = {}
    for e in Enrolment.select(Enrolment.customer_id, Enrolment.klass):
        marks_of.setdefault(e.class_id, []).append({"customer_id": e.customer_id, "status": "present"})
    started = time.perf_counter()
    for class_id, session_id in first.items():
        with write_transaction():
            rollcall.roll_call(Session.get_by_id(session_id), marks_of[class_id], actor)
    plugin_roll_call = time.perf_counter() - started
    plugin_balances = dict(_sums())
    attendances = Attendance.select().count()

    _reset_timetable()
    started = time.perf_counter()
    with database.atomic():
        database.execute_sql(
            GENERATE_SQL, {"tz": TZ, "first": FIRST, "last": FIRST + dt.timedelta(weeks=WEEKS, days=-1)}
        )
    sql_generate = time.perf_counter() - started
    sql_sessions = _timetable()
    started = time.perf_counter()
    with database.atomic():
        for statement in ROLL_CALL_SQL:
            database.execute_sql(statement)
    sql_roll_call = time.perf_counter() - started

    assert created == len(plugin_sessions) == CLASSES * (2 * WEEKS - 1)
    assert plugin_sessions == sql_sessions
    assert attendances == CLASSES * STUDENTS == Attendance.select().count()
    assert dict(_sums()) == plugin_balances
    print(
        f"\nterm generation, {CLASSES} classes, {len(plugin_sessions)} sessions: plugin {plugin_generate:.2f} s, "
        f"SQL {sql_generate:.2f} s, ratio {plugin_generate / sql_generate:.1f}x"
        f"\nroll call, {attendances} attendances in {len(first)} sessions: plugin {plugin_roll_call:.2f} s "
        f"({attendances / plugin_roll_call:.0f}/s), SQL {sql_roll_call:.2f} s, ratio {plugin_roll_call / sql_roll_call:.1f}x"
    )
