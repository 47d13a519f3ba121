"""crm-core + crm-medical installed alone in a fresh virtualenv give a working clinic: roles,
templates, isolation, break-glass and the Chinese catalogue come with the package."""

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
    from crm_core.auth import create_user, issue_token

    app = create_app()
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "root", "password": "Smoke-Passw0rd!"}).get_json()
    admin = {"Authorization": "Bearer " + token["access_token"]}
    depts = [c.post("/api/v1/departments", json={"name": n}, headers=admin).get_json()["id"] for n in ("a", "b")]
    with app.app_context():
        heads = []
        for name, dept in (("doc_a", depts[0]), ("doc_b", depts[1])):
            raw, _ = issue_token(create_user(name, "Smoke-Passw0rd!", roles=["medical_doctor"], department_id=dept))
            heads.append({"Authorization": "Bearer " + raw})
    a, b = heads
    r = c.post("/api/v1/customers", json={"name": "P", "custom": {"resident_id_number": "110105194912310021"}},
               headers=a)
    assert r.status_code == 422, r.get_json()
    p = c.post("/api/v1/customers", json={"name": "P", "custom": {"resident_id_number": "11010519491231002X"}},
               headers=a).get_json()["id"]
    c.post("/api/v1/customers/%d/consents" % p, json={"purpose": "treatment", "status": "given"}, headers=admin)
    rec = c.post("/api/v1/medical/records", json={"customer_id": p, "custom": {"diagnosis": "flu"}}, headers=a)
    assert rec.status_code == 201, rec.get_json()
    rid = rec.get_json()["id"]
    assert c.get("/api/v1/medical/records/%d" % rid, headers=b).status_code == 404
    g = c.post("/api/v1/medical/break-glass", json={"customer_id": p, "reason_code": "ETREAT",
               "reason": "unconscious in the ER", "password": "Smoke-Passw0rd!"}, headers=b).get_json()[0]
    opened = c.get("/api/v1/medical/break-glass/%d/records" % g["id"], headers=b).get_json()
    # the Chinese catalogue comes with the package: the doctor of the record's own department
    # has nothing to break the glass for
    zh = c.post("/api/v1/medical/break-glass", json={"customer_id": p, "reason_code": "ETREAT",
                "reason": "unconscious in the ER"}, headers={**a, "Accept-Language": "zh-CN"}).get_json()
    assert zh["message"] == "这位患者没有您所在科室以外的病历可以开启。", zh
    print(json.dumps({"diagnosis": opened[0]["custom"]["diagnosis"], "grant_active": g["active"]}))
    """
)


@pytest.mark.slow
def test_core_and_medical_installed_alone(tmp_path):
    env = install(tmp_path, CORE, PLUGIN, env={"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"})
    assert env.distributions() == ["crm-core", "crm-medical"]  # no other plugin came along
    crm = env.crm

    assert "medical" in crm("migrate")
    assert "database is up to date" in crm("migrate")
    plugins = crm("plugins")
    assert "medical" in plugins and "loyalty" not in plugins
    assert "medical_patient" in crm("templates")
    crm("create-user", "root", "--password", "Smoke-Passw0rd!", "--role", "admin")
    assert "medical.outpatient_records" in crm("retention", "status")
    out = env.python(SMOKE)
    assert out.strip().splitlines()[-1] == '{"diagnosis": "flu", "grant_active": true}'
