"""The school's part of ``crm demo-data`` (the ``crm_demo_data`` hook): a small training school.

Three courses, rooms at the demo customers' campuses, four classes taught by demo users, a term
of sessions from eight weeks ago to eight weeks ahead (a holiday skipped), students enrolled with
lesson packages and roll call of the past sessions (so the ledgers, revenue and attendance
show), a renewal or two, and leads in every stage of the funnel: new leads with follow-ups (some
overdue), trials booked the three ways, attended with feedback, converted to enrolments, leads
back in the shared pool, and a full class with a waiting list. Everything is written through the
plugin's own services and the core's write path as the admin, as the API would write it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_core.plugin_api import Customer, create_record, update_record, utcnow, write_transaction

from . import enrolments, hours, rollcall, sessions, trials, waitlist
from .models import Course, FollowUp, Holiday, Klass, Package, Room, Session, Trial

TEXT = {
    "zh_CN": {
        "courses": [
            ("少儿英语", "英语", "L1", "1.5"),
            ("少儿美术", "美术", "启蒙", "2"),
            ("数学思维", "数学", "三年级", "1.5"),
        ],
        "rooms": ["101 教室", "102 教室", "画室"],
        "classes": ["英语 L1 周一三班", "英语 L1 周二四班", "美术启蒙周六班", "数学思维周六班"],
        "term": "2026 秋季",
        "holiday": "校庆日",
        "notes": [
            "电话沟通，家长对英语课有兴趣",
            "微信发了课表，约周末来访",
            "家长在比较几家机构",
            "没接电话，改天再联系",
        ],
        "feedback": ["上课很专注，发音好", "有点害羞，第二节课放开了", "对画画很有兴趣"],
        "preferred": "周六上午",
    },
    "en": {
        "courses": [
            ("Kids' English", "English", "L1", "1.5"),
            ("Kids' Art", "Art", "Starter", "2"),
            ("Maths Thinking", "Maths", "Grade 3", "1.5"),
        ],
        "rooms": ["Room 101", "Room 102", "Art studio"],
        "classes": ["English L1 Mon/Wed", "English L1 Tue/Thu", "Art starters Sat", "Maths thinking Sat"],
        "term": "Autumn 2026",
        "holiday": "School day off",
        "notes": [
            "Called: the parent likes the English course",
            "Sent the timetable on WeChat",
            "Comparing schools",
            "No answer, try again",
        ],
        "feedback": ["Focused, good pronunciation", "Shy at first, then joined in", "Loves drawing"],
        "preferred": "Saturday mornings",
    },
}
#: per class: course index, room index, weekdays, local start, local end, capacity
CLASSES = [
    (0, 0, [0, 2], "16:00", "17:30", 6),
    (0, 1, [1, 3], "16:00", "17:30", 6),
    (1, 2, [5], "09:00", "11:00", 4),
    (2, 0, [5], "14:00", "15:30", 6),
]


def _packages_before(record, data, before):
    enrolments.campus_of_student(record, data, before)


def _package(customer: Customer, course: Course, actor, valid_from: dt.date, count: str = "40") -> Package:
    def purchased(record, data, before):
        hours.purchase(record, actor)

    body = {
        "customer_id": customer.id,
        "course_id": course.id,
        "hours": Decimal(count),
        "price": Decimal(count) * 120,
        "valid_from": valid_from,
        "valid_until": valid_from + dt.timedelta(days=365),
        "owner_id": customer.owner_id,
    }
    return create_record(
        "education.packages", Package, body, actor, before_save=_packages_before, after_save=purchased
    )


def _school(words, actor, campuses, teachers, today):
    courses = [
        create_record(
            "education.courses",
            Course,
            {"name": n, "subject": s, "level": lv, "hours_per_session": Decimal(h)},
            actor,
        )
        for n, s, lv, h in words["courses"]
    ]
    rooms = [
        create_record(
            "education.rooms", Room, {"name": n, "capacity": 8, "department_id": campuses[0]}, actor
        )
        for n in words["rooms"]
    ]
    start = today - dt.timedelta(weeks=8)
    saturday = start + dt.timedelta(weeks=3, days=(5 - start.weekday()) % 7)  # the Saturday classes skip it
    create_record("education.holidays", Holiday, {"day": saturday, "name": words["holiday"]}, actor)
    classes = []
    for i, (course, room, weekdays, begin, end, cap) in enumerate(CLASSES):
        klass = create_record(
            "education.classes",
            Klass,
            {
                "name": words["classes"][i],
                "course_id": courses[course].id,
                "teacher_id": teachers[i % len(teachers)],
                "room_id": rooms[room].id,
                "capacity": cap,
                "term": words["term"],
                "department_id": campuses[0],
            },
            actor,
        )
        pattern = {
            "from": start,
            "until": today + dt.timedelta(weeks=8),
            "weekdays": weekdays,
            "start": dt.time.fromisoformat(begin),
            "end": dt.time.fromisoformat(end),
        }
        with write_transaction():
            sessions.generate(klass, pattern, actor)
        classes.append(klass)
    return courses, classes, start


def _past(klass, now):
    return list(
        Session.select()
        .where(Session.klass == klass.id, Session.ends_at < now, Session.status == "scheduled")
        .order_by(Session.starts_at)
    )


def _coming(klass, now):
    return list(
        Session.select().where(Session.klass == klass.id, Session.starts_at > now).order_by(Session.starts_at)
    )


def add_demo_data(context) -> None:
    """Write the school's demo for ``context`` (:class:`crm_core.plugin_api.DemoContext`)."""
    actor = context.admin
    if actor is None or Course.select().exists():
        return  # the school exists already (a second run adds nothing), or nobody to write as
    words = TEXT.get(context.locale, TEXT["en"])
    rng = context.random
    people = list(Customer.select().where(Customer.id.in_(list(context.customers))).order_by(Customer.id))
    if len(people) < 34:  # students, then leads for every stage
        return
    campuses = [c.department_id for c in people if c.department_id] or [None]
    teachers = (
        context.users.get("teacher")
        or context.users.get("manager", []) + context.users.get("service", [])
        or context.users.get("admin", [])
    )
    now = utcnow()
    today = now.date()
    courses, classes, term_start = _school(words, actor, campuses, teachers, today)
    students, leads = people[:16], people[16:36]  # the rest of the demo customers stay as they are
    by_class = [students[0:4], students[4:8], students[8:12], students[12:16]]
    for klass, group in zip(classes, by_class, strict=True):
        for student in group:
            enrolments.enrol(student.id, klass.id, actor, owner_id=student.owner_id)
            _package(student, klass.course, actor, term_start)
    for student in students[:2]:  # renewals: a second package while the first runs
        _package(student, classes[0].course, actor, term_start, "20")
    for lead in leads:
        if lead.lifecycle_stage != "lead":
            update_record("customers", lead, {"lifecycle_stage": "lead"}, actor)
    # trials: attended in past sessions (roll call marks them), booked, slot, request
    past_trials = []
    for n, lead in enumerate(leads[:5]):
        session = _past(classes[n % 2], now)[-2 - n % 3]  # five distinct sessions
        trial = create_record(
            trials.RESOURCE,
            Trial,
            {
                "customer_id": lead.id,
                "kind": "class_session",
                "session_id": session.id,
                "owner_id": lead.owner_id,
                "_actor": actor,
            },
            actor,
            before_save=trials.prepare_trial,
            after_save=trials.after_create,
        )
        past_trials.append((trial, session))
    for klass, group in zip(classes, by_class, strict=True):
        for session in _past(klass, now):
            marks = [
                {"customer_id": s.id, "status": rng.choices(("present", "absent", "leave"), (8, 1, 1))[0]}
                for s in group
            ]
            marks += [
                {"customer_id": t.customer_id, "status": "present" if i != 4 else "absent"}
                for i, (t, s) in enumerate(past_trials)
                if s.id == session.id
            ]
            with write_transaction():
                rollcall.roll_call(session, marks, actor)
    for i, (trial, _s) in enumerate(past_trials[:4]):
        trial = Trial.get_by_id(trial.id)
        feedback = {"feedback": words["feedback"][i % len(words["feedback"])], "rating": 4 + i % 2}
        update_record(trials.RESOURCE, trial, feedback, actor)
        if i < 2:  # enrolled in a class after the trial
            with write_transaction():
                trials.convert(trial, classes[3 if i == 0 else 1].id, actor)
                update_record(
                    trials.RESOURCE,
                    trial,
                    {"status": trial.status, "converted_at": trial.converted_at},
                    actor,
                )
    for n, lead in enumerate(leads[5:8]):
        session = _coming(classes[n % 2], now)[n]
        create_record(
            trials.RESOURCE,
            Trial,
            {
                "customer_id": lead.id,
                "kind": "class_session",
                "session_id": session.id,
                "owner_id": lead.owner_id,
                "_actor": actor,
            },
            actor,
            before_save=trials.prepare_trial,
            after_save=trials.after_create,
        )
    slot_day = now + dt.timedelta(days=3)
    create_record(
        trials.RESOURCE,
        Trial,
        {
            "customer_id": leads[8].id,
            "kind": "trial_slot",
            "course_id": courses[1].id,
            "teacher_id": teachers[0],
            "starts_at": slot_day.replace(hour=2, minute=0, second=0, microsecond=0),
            "ends_at": slot_day.replace(hour=3, minute=0, second=0, microsecond=0),
            "owner_id": leads[8].owner_id,
            "_actor": actor,
        },
        actor,
        before_save=trials.prepare_trial,
        after_save=trials.after_create,
    )
    create_record(
        trials.RESOURCE,
        Trial,
        {
            "customer_id": leads[9].id,
            "kind": "request",
            "course_id": courses[2].id,
            "preferred": words["preferred"],
            "owner_id": leads[9].owner_id,
            "_actor": actor,
        },
        actor,
        before_save=trials.prepare_trial,
        after_save=trials.after_create,
    )
    # follow-ups: due, overdue and later ones
    for n, lead in enumerate(leads[:12]):
        when = now + dt.timedelta(hours=rng.choice((-30, -4, 2, 26, 72)))
        create_record(
            "education.followups",
            FollowUp,
            {
                "customer_id": lead.id,
                "channel": rng.choice(("phone", "wechat", "visit")),
                "content": words["notes"][n % len(words["notes"])],
                "intention": rng.choice(("A", "B", "C")),
                "next_contact_at": when,
                "owner_id": lead.owner_id,
            },
            actor,
        )
    for lead in leads[12:15]:  # back in the shared pool
        if lead.owner_id is not None:
            update_record("customers", lead, {"owner_id": None, "department_id": lead.department_id}, actor)
    # the art class is full (four seats): two more wait for a seat
    for lead in leads[15:17]:
        with write_transaction():
            waitlist.join(
                {"customer_id": lead.id, "class_id": classes[2].id, "owner_id": lead.owner_id}, actor
            )
