"""Appointments: two occupying slots of one doctor clash iff start1 < end2 and start2 < end1;
a clash is 409, also when many bookings race (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from crm_medical.appointments import overlaps
from hypothesis import given
from hypothesis import strategies as st
from medical_testlib import M, register_patient

from crm_core.plugin_api import database

DAY = dt.datetime(2027, 3, 1)


def _at(minutes: int) -> str:
    return (DAY + dt.timedelta(minutes=minutes)).isoformat() + "Z"


def _book(client, headers, patient, doctor, start, end, **extra):
    body = {"customer_id": patient, "doctor_id": doctor, "start_at": _at(start), "end_at": _at(end), **extra}
    return client.post(f"{M}/appointments", json=body, headers=headers)


@given(a=st.integers(0, 100), b=st.integers(1, 50), c=st.integers(0, 100), d=st.integers(1, 50))
def test_overlap_is_the_half_open_interval_test(a, b, c, d):
    first, second = set(range(a, a + b)), set(range(c, c + d))  # the minutes each slot occupies
    assert overlaps(a, a + b, c, c + d) == bool(first & second)


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [(30, 90, 409), (0, 60, 409), (59, 61, 409), (-30, 120, 409), (60, 120, 201), (-60, 0, 201)],
)
def test_a_slot_clashes_iff_it_overlaps(client, admin_headers, clinic, start, end, status):
    desk = clinic.staff[("internal", "medical_front_desk")]
    doctor = clinic.users[("internal", "medical_doctor")]
    patient = register_patient(client, clinic.staff[("internal", "medical_doctor")], consent=False)
    assert _book(client, desk, patient, doctor, 0, 60).status_code == 201
    r = _book(client, desk, patient, doctor, start, end)
    assert r.status_code == status, r.get_json()
    if status == 409:
        assert "overlapping" in r.get_json()["message"] and "start_at" in r.get_json()["errors"]


def test_cancelled_slots_are_free_and_other_doctors_never_clash(client, admin_headers, clinic):
    desk = clinic.staff[("internal", "medical_front_desk")]
    doctor = clinic.users[("internal", "medical_doctor")]
    other = clinic.users[("internal", "medical_department_head")]
    patient = register_patient(client, clinic.staff[("internal", "medical_doctor")], consent=False)
    first = _book(client, desk, patient, doctor, 0, 60).get_json()
    assert _book(client, desk, patient, other, 0, 60).status_code == 201
    assert _book(client, desk, patient, doctor, 0, 60).status_code == 409
    r = client.patch(f"{M}/appointments/{first['id']}", json={"status": "cancelled"}, headers=desk)
    assert r.status_code == 200, r.get_json()
    assert _book(client, desk, patient, doctor, 0, 60).status_code == 201
    # un-cancelling the first would now double-book the doctor
    r = client.patch(f"{M}/appointments/{first['id']}", json={"status": "booked"}, headers=desk)
    assert r.status_code == 409
    # moving a slot is checked against the others, not against itself
    second = _book(client, desk, patient, doctor, 120, 180).get_json()
    r = client.patch(
        f"{M}/appointments/{second['id']}", json={"start_at": _at(150), "end_at": _at(200)}, headers=desk
    )
    assert r.status_code == 200, r.get_json()


def test_a_slot_ends_after_it_starts(client, admin_headers, clinic):
    desk = clinic.staff[("internal", "medical_front_desk")]
    patient = register_patient(client, clinic.staff[("internal", "medical_doctor")], consent=False)
    r = _book(client, desk, patient, clinic.users[("internal", "medical_doctor")], 60, 60)
    assert r.status_code == 422 and "end_at" in r.get_json()["errors"]


def test_racing_overlapping_bookings_never_double_book_the_doctor(app, client, admin_headers, clinic):
    desk = clinic.staff[("internal", "medical_front_desk")]
    doctor = clinic.users[("internal", "medical_doctor")]
    patient = register_patient(client, clinic.staff[("internal", "medical_doctor")], consent=False)
    if not database.is_closed():
        database.close()  # the threads open their own connections
    statuses: list[int] = []
    start = threading.Barrier(12)
    lock = threading.Lock()

    def book(i):
        own = app.test_client()
        start.wait()
        r = _book(own, desk, patient, doctor, i * 5, i * 5 + 30)  # every slot overlaps the next
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=book, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, statuses
    booked = client.get(f"{M}/appointments?page_size=100", headers=desk).get_json()
    booked.sort(key=lambda a: a["start_at"])
    assert len(booked) == statuses.count(201)
    for earlier, later in zip(booked, booked[1:], strict=False):
        assert earlier["end_at"] <= later["start_at"], booked  # no two of them overlap
