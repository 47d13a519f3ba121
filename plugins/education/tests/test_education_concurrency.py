"""Concurrent bookings: of many requests for one room slot exactly one wins; of many enrolments
for a class's last seats exactly the seats are filled (each thread its own connection)."""

from __future__ import annotations

import threading

from education_testlib import MONDAY, E, utc

from crm_core.plugin_api import database


def race(app, n, request):
    """Run ``request(client, i)`` in ``n`` threads released at once; their status codes."""
    if not database.is_closed():
        database.close()  # the threads open their own connections
    statuses: list[int] = []
    start = threading.Barrier(n)
    lock = threading.Lock()

    def run(i):
        own = app.test_client()
        start.wait()
        r = request(own, i)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return statuses


def test_one_room_slot_booked_concurrently_has_one_winner(app, client, school, admin_headers, make_user):
    course = school.course()
    room = school.room("Contested")
    # eight classes with their own teachers: only the room is shared
    classes = [school.klass(course, make_user(f"race_t{i}", roles=())[0].id, room) for i in range(8)]

    def book(own, i):
        body = {"class_id": classes[i], "starts_at": utc(MONDAY, 9), "ends_at": utc(MONDAY, 10, 30)}
        return own.post(f"{E}/sessions", json=body, headers=admin_headers)

    statuses = race(app, 8, book)
    assert sorted(statuses) == [201] + [409] * 7, statuses
    rows = client.get(f"{E}/sessions?room_id={room}", headers=admin_headers).get_json()
    assert len(rows) == 1


def test_last_seats_filled_concurrently_never_overbook(app, client, school, admin_headers):
    course = school.course()
    klass = school.klass(course, None, school.room("Small", 3), capacity=5)
    students = [school.student(f"Racer {i}") for i in range(10)]

    def enrol(own, i):
        return own.post(
            f"{E}/enrolments", json={"customer_id": students[i], "class_id": klass}, headers=admin_headers
        )

    statuses = race(app, 10, enrol)
    assert sorted(statuses) == [201] * 3 + [409] * 7, statuses
    rows = client.get(f"{E}/enrolments?class_id={klass}", headers=admin_headers).get_json()
    assert len(rows) == 3


def test_the_same_roll_call_sent_concurrently_consumes_once(app, client, school, admin_headers):
    course = school.course(hours="2")
    klass = school.klass(course, None, None)
    students = [school.student(f"Roll {i}") for i in range(3)]
    for s in students:
        school.enrol(s, klass)
        school.package(s, course, hours="10", price="1000")
    session = school.session(klass, utc(MONDAY, 9), utc(MONDAY, 10))["id"]
    marks = {"marks": [{"customer_id": s, "status": "present"} for s in students]}

    def call(own, i):
        return own.post(f"{E}/sessions/{session}/roll-call", json=marks, headers=admin_headers)

    assert race(app, 6, call) == [200] * 6
    for s in students:
        assert client.get(f"{E}/students/{s}/hours", headers=admin_headers).get_json()["balance"] == "8.00"
