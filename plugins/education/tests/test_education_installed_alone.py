"""crm-core + crm-education installed alone in a fresh virtualenv give a working school: a term
generated, a student enrolled, roll call consuming hours, messages in Chinese."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crm_core.testing import install

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]

SMOKE = textwrap.dedent(
    """
    import json
    from crm_core.app import create_app

    app = create_app()
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "root", "password": "Smoke-Passw0rd!"}).get_json()
    h = {"Authorization": "Bearer " + token["access_token"]}
    E = "/api/v1/education"

    def post(path, body, status=201):
        r = c.post(E + path, json=body, headers=h)
        assert r.status_code == status, (path, r.status_code, r.get_json())
        return r.get_json()

    course = post("/courses", {"name": "Maths", "hours_per_session": "2"})["id"]
    room = post("/rooms", {"name": "A1", "capacity": 8})["id"]
    klass = post("/classes", {"name": "Maths G3", "course_id": course, "room_id": room})["id"]
    post("/holidays", {"day": "2027-03-03"})
    term = post("/classes/%d/generate" % klass, {"from": "2027-03-01", "until": "2027-03-14",
                                                 "weekdays": [0, 2], "start": "18:00", "end": "20:00"})
    student = c.post("/api/v1/customers", json={"name": "Smoke", "custom": {"education_grade": "g3"}},
                     headers=h)
    assert student.status_code == 201, student.get_json()
    student = student.get_json()["id"]
    post("/enrolments", {"customer_id": student, "class_id": klass})
    post("/packages", {"customer_id": student, "course_id": course, "hours": "10", "price": "1000",
                       "valid_from": "2027-01-01"})
    post("/sessions/%d/roll-call" % term["session_ids"][0],
         {"marks": [{"customer_id": student, "status": "present"}]}, status=200)
    hours = c.get(E + "/students/%d/hours" % student, headers=h).get_json()
    clash = c.post(E + "/sessions", json={"class_id": klass, "starts_at": "2027-03-01T10:30:00Z",
                                          "ends_at": "2027-03-01T11:00:00Z"},
                   headers={**h, "Accept-Language": "zh-CN"})
    assert clash.status_code == 409 and clash.get_json()["message"] == "该时段与其他课节冲突。", clash.get_json()
    print(json.dumps({"created": term["created"], "holidays": term["holidays"], "balance": hours["balance"]}))
    """
)


@pytest.mark.slow
def test_core_and_education_installed_alone(tmp_path):
    env = install(tmp_path, CORE, PLUGIN, env={"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"})
    assert env.distributions() == ["crm-core", "crm-education"]  # no other plugin came along
    crm = env.crm

    assert "education" in crm("migrate")
    assert "database is up to date" in crm("migrate")
    plugins = crm("plugins")
    assert "education" in plugins and "loyalty" not in plugins
    assert "education_students" in crm("templates")
    assert "education:remind_hours" in crm("jobs", "list")
    crm("create-user", "root", "--password", "Smoke-Passw0rd!", "--role", "admin")
    out = env.python(SMOKE)
    # Mon 3-1, Mon 3-8, Wed 3-10 (Wed 3-3 a holiday)
    assert out.strip().splitlines()[-1] == '{"created": 3, "holidays": ["2027-03-03"], "balance": "8.00"}'
