"""The workbench screens: the week timetable by room and by teacher (school time), the roster
with roll call (hours consumed through the same code as the API, refusals shown), the student's
hours ledger with fees hidden from a teacher; in English and Chinese."""

from __future__ import annotations

import re

import pytest
from education_testlib import MONDAY, ok, utc

from crm_core.browser_testing import post_form, web_login

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def term(client, admin_headers, make_user, school):
    grants = [
        {"resource": r, "action": "read", "scope": s}
        for r, s in (
            ("customers", "all"),
            ("education.sessions", "own"),
            ("education.classes", "own"),
            ("education.packages", "all"),
            ("education.hours", "all"),
            ("education.courses", "all"),
        )
    ] + [{"resource": "education.sessions", "action": "roll_call", "scope": "own"}]
    rules = [
        {"resource": "education.packages", "field": "price", "rule": "hidden"},
        {"resource": "education.hours", "field": "amount", "rule": "hidden"},
    ]
    ok(
        client.post(
            "/api/v1/roles",
            json={"name": "teacher", "grants": grants, "field_rules": rules},
            headers=admin_headers,
        ),
        201,
    )
    teacher, _ = make_user("web_teacher", roles=("teacher",))
    make_user("web_admin")
    course = school.course("钢琴", hours="1.5")
    room = school.room("琴房 1")
    klass = school.klass(course, teacher.id, room, name="Piano beginners")
    session = school.session(klass, utc(MONDAY, 1), utc(MONDAY, 2, 30))["id"]  # 09:00 in Shanghai
    student = school.student("李雷")
    school.enrol(student, klass)
    package = school.package(student, course, hours="3", price="450")
    return {"teacher": teacher, "room": room, "session": session, "student": student, "package": package}


def test_timetable_shows_the_week_in_school_time_by_room_and_teacher(client, term):
    web_login(client, "web_admin")
    html = client.get(f"/education/timetable?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert f'data-session="{term["session"]}"' in html and "09:00–10:30" in html and "琴房 1" in html
    html = client.get(f"/education/timetable?week={MONDAY.isoformat()}&by=teacher", headers=ZH).get_data(
        as_text=True
    )
    assert f'data-row="{term["teacher"].id}"' in html and "课表" in html
    empty = client.get("/education/timetable?week=2027-04-05").get_data(as_text=True)
    assert "No sessions this week." in empty


def test_roll_call_form_consumes_hours_and_shows_refusals(client, term):
    web_login(client, "web_teacher")
    path = f"/education/sessions/{term['session']}"
    page = client.get(path, headers=ZH).get_data(as_text=True)
    assert "李雷" in page and "保存点名" in page
    r = post_form(client, path, {f"mark-{term['student']}": "present"})
    assert r.status_code == 302
    html = client.get(f"/education/students/{term['student']}").get_data(as_text=True)
    assert 'id="total-hours">1.50<' in html
    assert "data-amount" not in html and "data-price" not in html  # fees hidden from the teacher
    assert 'data-kind="consume"' in html


def test_roll_call_refusal_is_shown_on_the_page(client, school, term):
    web_login(client, "web_admin")
    klass_session = client.get(f"/education/sessions/{term['session']}").get_data(as_text=True)
    assert "Save roll call" in klass_session
    # 1.5 of the 3 hours spent, then a 2-hour lesson finds too few
    post_form(client, f"/education/sessions/{term['session']}", {f"mark-{term['student']}": "present"})
    from crm_education.models import Session  # noqa: PLC0415  the test reads the session's class

    klass = Session.get_by_id(term["session"]).class_id
    later = school.session(klass, utc(MONDAY, 5), utc(MONDAY, 7), hours="2")["id"]
    r = post_form(client, f"/education/sessions/{later}", {f"mark-{term['student']}": "present"}, headers=ZH)
    assert r.status_code == 409
    assert re.search(r'id="roll-call-error">学员 \d+ 没有这门课程', r.get_data(as_text=True))
    admin_page = client.get(f"/education/students/{term['student']}").get_data(as_text=True)
    assert "data-price" in admin_page and "data-amount" in admin_page
