"""Helpers of the education tests (a unique module name: several plugins' tests run in one session)."""

from __future__ import annotations

import datetime as dt

from crm_core.testing import conforms_to_openapi

E = "/api/v1/education"
#: a Monday: the school's time zone is Asia/Shanghai (UTC+8), so 09:00 local is 01:00 UTC
MONDAY = dt.date(2027, 3, 1)


def utc(day: dt.date, hour: int, minute: int = 0) -> str:
    """An ISO UTC instant on ``day`` (the API's input form)."""
    return dt.datetime.combine(day, dt.time(hour, minute)).isoformat() + "Z"


def ok(response, status=200):
    """The JSON of a response that must have ``status``."""
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


class School:
    """Builds a school through the API as an admin: courses, rooms, classes, students."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def post(self, path, body, status=201, headers=None):
        """POST ``body`` to ``E + path`` and return the JSON (asserting ``status``)."""
        return ok(self.client.post(E + path, json=body, headers=headers or self.headers), status)

    def course(self, name="Maths", hours="1"):
        return self.post("/courses", {"name": name, "hours_per_session": hours})["id"]

    def room(self, name="Room 1", capacity=10, **extra):
        return self.post("/rooms", {"name": name, "capacity": capacity, **extra})["id"]

    def klass(self, course_id, teacher_id=None, room_id=None, capacity=10, **extra):
        body = {
            "name": "Class",
            "course_id": course_id,
            "teacher_id": teacher_id,
            "room_id": room_id,
            "capacity": capacity,
            **extra,
        }
        return self.post("/classes", body)["id"]

    def session(self, class_id, starts, ends, status=201, **extra):
        return self.post(
            "/sessions", {"class_id": class_id, "starts_at": starts, "ends_at": ends, **extra}, status
        )

    def student(self, name="Student", headers=None, **extra):
        r = self.client.post(
            "/api/v1/customers", json={"name": name, **extra}, headers=headers or self.headers
        )
        return ok(r, 201)["id"]

    def enrol(self, customer_id, class_id, status=201, headers=None):
        return self.post("/enrolments", {"customer_id": customer_id, "class_id": class_id}, status, headers)

    def package(self, customer_id, course_id, hours="10", price="1000.00", valid_from="2027-01-01", **extra):
        body = {
            "customer_id": customer_id,
            "course_id": course_id,
            "hours": hours,
            "price": price,
            "valid_from": valid_from,
            **extra,
        }
        return self.post("/packages", body)


def events(client, headers, event_type):
    """The data of the outbox's events of a type, oldest first."""
    rows = ok(client.get(f"/api/v1/events?type={event_type}&page_size=100", headers=headers))
    return [row["data"] for row in reversed(rows)]


def department(client, headers, name, parent=None):
    """A new department (a campus) through the core's API; its id."""
    body = {"name": name, "parent_id": parent}
    return ok(client.post("/api/v1/departments", json=body, headers=headers), 201)["id"]


def conforms(client, path: str, response, method: str = "get") -> dict:
    """The JSON of ``response`` (a 200), valid against the 200 schema the API declares for
    ``method`` ``path`` (``crm_core.testing.conforms_to_openapi``)."""
    return conforms_to_openapi(client, path, response, method)
