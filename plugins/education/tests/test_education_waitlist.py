"""The waiting list of a full class: joined only when full, a freed seat offered to the first
in line and held for them (nobody else takes it), accepted into an enrolment or a trial seat,
declined or expired onwards; under concurrent withdrawals, enrolments and accepts the class
never holds more than its seats."""

from __future__ import annotations

import datetime as dt

from education_testlib import MONDAY, E, events, ok, utc
from test_education_concurrency import race

from crm_core.testing import run_cli


def _full_class(school, seats=1):
    course = school.course()
    klass = school.klass(course, None, None, capacity=seats)
    seated = [school.student(f"Seated {i}") for i in range(seats)]
    enrolled = [school.enrol(s, klass)["id"] for s in seated]
    return klass, enrolled


def test_freed_seat_is_offered_in_order_held_and_accepted(client, school, admin_headers):
    klass, (enrolment,) = _full_class(school)
    free_class = school.klass(school.course("Art"), None, None)
    first, second, late = (school.student(n) for n in ("First", "Second", "Late"))
    refused = school.post("/waitlist", {"customer_id": first, "class_id": free_class}, 409)
    assert refused["errors"]["class_id"]
    a = school.post("/waitlist", {"customer_id": first, "class_id": klass})
    b = school.post("/waitlist", {"customer_id": second, "class_id": klass})
    assert (a["position"], b["position"], a["status"]) == (1, 2, "waiting")
    school.post("/waitlist", {"customer_id": first, "class_id": klass}, 409)  # already waiting

    ok(client.post(f"{E}/enrolments/{enrolment}/withdraw", headers=admin_headers))
    a = ok(client.get(f"{E}/waitlist/{a['id']}", headers=admin_headers))
    assert a["status"] == "offered" and a["offer_expires_at"]
    assert events(client, admin_headers, "waitlist.offered")[-1]["customer_id"] == first
    school.enrol(late, klass, status=409)  # the freed seat is held for the first in line

    accepted = ok(client.post(f"{E}/waitlist/{a['id']}/accept", headers=admin_headers))
    assert accepted["status"] == "accepted" and accepted["result_id"]
    rows = ok(client.get(f"{E}/enrolments?class_id={klass}&status=active", headers=admin_headers))
    assert [r["customer_id"] for r in rows] == [first]
    assert ok(client.get(f"{E}/waitlist/{b['id']}", headers=admin_headers))["position"] == 1
    # a bigger class offers its new seat to the next in line
    ok(client.patch(f"{E}/classes/{klass}", json={"capacity": 2}, headers=admin_headers))
    assert ok(client.get(f"{E}/waitlist/{b['id']}", headers=admin_headers))["status"] == "offered"


def test_declined_and_expired_offers_pass_the_seat_on(app, client, school, admin_headers):
    klass, (enrolment,) = _full_class(school)
    ids = [
        school.post("/waitlist", {"customer_id": school.student(f"W{i}"), "class_id": klass})["id"]
        for i in range(3)
    ]
    ok(client.post(f"{E}/enrolments/{enrolment}/withdraw", headers=admin_headers))
    ok(client.post(f"{E}/waitlist/{ids[0]}/decline", headers=admin_headers))
    status = [ok(client.get(f"{E}/waitlist/{i}", headers=admin_headers))["status"] for i in ids]
    assert status == ["declined", "offered", "waiting"]
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=49)
    result = run_cli(
        app, "jobs", "run", "education:expire_offers", "--at", later.isoformat(timespec="seconds")
    )
    assert result.exit_code == 0, result.output
    status = [ok(client.get(f"{E}/waitlist/{i}", headers=admin_headers))["status"] for i in ids]
    assert status == ["declined", "expired", "offered"]


def test_a_revoked_trial_offers_its_session_seat_as_a_trial(client, school, admin_headers):
    course = school.course()
    klass = school.klass(course, None, None, capacity=1)
    session = school.session(klass, utc(MONDAY, 9), utc(MONDAY, 10))["id"]
    lead, waiting = school.student("Trying"), school.student("Waiting")
    trial = school.post("/trials", {"customer_id": lead, "kind": "class_session", "session_id": session})
    school.post("/trials", {"customer_id": waiting, "kind": "class_session", "session_id": session}, 409)
    entry = school.post("/waitlist", {"customer_id": waiting, "class_id": klass, "session_id": session})
    ok(client.post(f"{E}/trials/{trial['id']}/revoke", headers=admin_headers))
    ok(client.post(f"{E}/waitlist/{entry['id']}/accept", headers=admin_headers))
    booked = ok(client.get(f"{E}/trials?customer_id={waiting}", headers=admin_headers))
    assert [(t["session_id"], t["status"]) for t in booked] == [(session, "booked")]


def test_concurrent_withdrawals_enrolments_and_accepts_never_exceed_the_seats(
    app, client, school, admin_headers
):
    klass, enrolled = _full_class(school, seats=3)
    line = [
        school.post("/waitlist", {"customer_id": school.student(f"Q{i}"), "class_id": klass})["id"]
        for i in range(4)
    ]
    outsiders = [school.student(f"Walk-in {i}") for i in range(4)]

    def step(own, i):
        if i < 2:  # two students leave
            return own.post(f"{E}/enrolments/{enrolled[i]}/withdraw", headers=admin_headers)
        if i < 6:  # the line tries to accept (only offered entries can)
            return own.post(f"{E}/waitlist/{line[i - 2]}/accept", headers=admin_headers)
        return own.post(  # walk-ins try to take a seat directly
            f"{E}/enrolments",
            json={"customer_id": outsiders[i - 6], "class_id": klass},
            headers=admin_headers,
        )

    race(app, 10, step)
    active = ok(client.get(f"{E}/enrolments?class_id={klass}&status=active", headers=admin_headers))
    entries = [ok(client.get(f"{E}/waitlist/{i}", headers=admin_headers)) for i in line]
    offered = [e for e in entries if e["status"] == "offered"]
    assert len(active) + len(offered) == 3  # every freed seat went to the line, none more
    walk_ins = {r["customer_id"] for r in active} & set(outsiders)
    assert not walk_ins  # the seats freed were held for the line, never taken by a walk-in
    assert {e["status"] for e in entries[:2]} <= {"accepted", "offered"}  # the first two, in order
    assert all(e["status"] == "waiting" for e in entries[2:])
