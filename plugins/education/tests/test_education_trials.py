"""Trial lessons booked three ways, attended through roll call or their own endpoint, with
feedback and conversion to an enrolment; the events they emit (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from education_testlib import MONDAY, E, events, ok, utc

from crm_core.testing import run_cli


@pytest.fixture
def desk(school, make_user):
    """A class of a course taught by a teacher in a room, with one session, and a lead."""
    teacher, _ = make_user("trial_teacher", roles=())
    course = school.course("English")
    room = school.room("Trial room", 3)
    klass = school.klass(course, teacher.id, room, capacity=2)
    session = school.session(klass, utc(MONDAY, 1), utc(MONDAY, 2))["id"]
    lead = school.student("Lead Wang", lifecycle_stage="lead")
    return {
        "teacher": teacher.id,
        "course": course,
        "room": room,
        "class": klass,
        "session": session,
        "lead": lead,
    }


def trial(school, body, status=201):
    return school.post("/trials", body, status)


def test_class_session_trial_attended_by_roll_call_and_converted(client, admin_headers, school, desk):
    h = admin_headers
    booked = trial(
        school, {"customer_id": desk["lead"], "kind": "class_session", "session_id": desk["session"]}
    )
    assert booked["status"] == "booked" and booked["course_id"] == desk["course"]
    assert [e["trial_id"] for e in events(client, h, "trial.booked")] == [booked["id"]]
    # roll call marks the trial attendee; a trial consumes no hours (the lead has no package)
    body = {"marks": [{"customer_id": desk["lead"], "status": "present"}]}
    result = ok(client.post(f"{E}/sessions/{desk['session']}/roll-call", json=body, headers=h))
    assert result["marks"][0]["trial_id"] == booked["id"] and result["marks"][0]["package_id"] is None
    assert ok(client.get(f"{E}/trials/{booked['id']}", headers=h))["status"] == "attended"
    assert [e["trial_id"] for e in events(client, h, "trial.attended")] == [booked["id"]]
    assert events(client, h, "lesson.attended") == []

    feedback = {"feedback": "Keen, good ear; recommend the beginners' class", "rating": 5}
    assert ok(client.post(f"{E}/trials/{booked['id']}/feedback", json=feedback, headers=h))["rating"] == 5
    converted = ok(
        client.post(f"{E}/trials/{booked['id']}/convert", json={"class_id": desk["class"]}, headers=h)
    )
    assert converted["status"] == "converted" and converted["converted_at"]
    created = events(client, h, "enrolment.created")
    assert [(e["customer_id"], e["trial_id"]) for e in created] == [(desk["lead"], booked["id"])]
    again = client.post(f"{E}/trials/{booked['id']}/convert", json={"class_id": desk["class"]}, headers=h)
    assert again.status_code == 409


def test_trial_seats_count_against_the_session(school, desk):
    school.enrol(school.student("Enrolled"), desk["class"])
    trial(school, {"customer_id": desk["lead"], "kind": "class_session", "session_id": desk["session"]})
    other = school.student("Second lead")
    body = trial(school, {"customer_id": other, "kind": "class_session", "session_id": desk["session"]}, 409)
    assert "full" in body["message"].lower()


def test_revoked_trial_frees_its_seat(client, admin_headers, school, desk):
    school.enrol(school.student("Enrolled"), desk["class"])
    first = trial(
        school, {"customer_id": desk["lead"], "kind": "class_session", "session_id": desk["session"]}
    )
    ok(client.post(f"{E}/trials/{first['id']}/revoke", json={}, headers=admin_headers))
    other = school.student("Second lead")
    trial(school, {"customer_id": other, "kind": "class_session", "session_id": desk["session"]})


def test_one_off_trial_slot_is_clash_checked(client, admin_headers, school, desk):
    slot = {
        "customer_id": desk["lead"],
        "kind": "trial_slot",
        "course_id": desk["course"],
        "teacher_id": desk["teacher"],
        "starts_at": utc(MONDAY, 1, 30),
        "ends_at": utc(MONDAY, 2, 30),
    }
    body = trial(school, slot, 409)  # the teacher teaches the class then
    assert "teacher_id" in body["errors"]
    booked = trial(school, {**slot, "starts_at": utc(MONDAY, 2), "ends_at": utc(MONDAY, 3)})  # back to back
    session = ok(client.get(f"{E}/sessions/{booked['session_id']}", headers=admin_headers))
    klass = ok(client.get(f"{E}/classes/{session['class_id']}", headers=admin_headers))
    assert klass["is_trial"] and klass["capacity"] == 1
    assert trial(school, {k: v for k, v in slot.items() if k != "course_id"}, 422)["errors"]["course_id"]


def test_request_is_scheduled_by_the_front_desk(client, admin_headers, school, desk):
    h = admin_headers
    request = trial(
        school, {"customer_id": desk["lead"], "kind": "request", "preferred": "Saturday mornings"}
    )
    assert request["status"] == "requested" and request["session_id"] is None
    assert events(client, h, "trial.booked") == []
    scheduled = ok(
        client.post(f"{E}/trials/{request['id']}/schedule", json={"session_id": desk["session"]}, headers=h)
    )
    assert scheduled["status"] == "booked" and scheduled["session_id"] == desk["session"]
    assert [e["kind"] for e in events(client, h, "trial.booked")] == ["request"]
    no_show = ok(client.post(f"{E}/trials/{request['id']}/attend", json={"attended": False}, headers=h))
    assert no_show["status"] == "no_show" and events(client, h, "trial.attended") == []
    again = client.post(
        f"{E}/trials/{request['id']}/schedule", json={"session_id": desk["session"]}, headers=h
    )
    assert again.status_code == 409


def test_booked_trials_are_reminded_once_the_day_before(app, client, admin_headers, school, desk):
    booked = trial(
        school, {"customer_id": desk["lead"], "kind": "class_session", "session_id": desk["session"]}
    )
    early = run_cli(app, "jobs", "run", "education:remind_trials", "--at", "2027-02-27T00:00:00")
    assert early.exit_code == 0 and events(client, admin_headers, "trial.reminder") == []
    for at in ("2027-02-28T12:00:00", "2027-02-28T13:00:00"):
        assert run_cli(app, "jobs", "run", "education:remind_trials", "--at", at).exit_code == 0
    assert [e["trial_id"] for e in events(client, admin_headers, "trial.reminder")] == [booked["id"]]
