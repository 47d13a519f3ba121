"""Privacy export and erasure across the core and plugins (GDPR / PIPL)."""

import pytest
from click.testing import CliRunner

from crm_core import hookimpl


class Vault:
    """A throwaway plugin that stores something about customers and honours privacy hooks."""

    def __init__(self, fail_erase=False):
        self.notes, self.fail_erase = {}, fail_erase

    @hookimpl
    def crm_export_customer(self, customer):
        return {"notes": self.notes.get(customer.id, [])}

    @hookimpl
    def crm_erase_customer(self, customer):
        if self.fail_erase:
            raise RuntimeError("vault offline")
        self.notes.pop(customer.id, None)


@pytest.fixture
def vault():
    return Vault()


@pytest.fixture
def papp(register_plugin, vault):
    return register_plugin(vault, "vault")


@pytest.fixture
def pclient(papp):
    return papp.test_client()


@pytest.fixture
def headers(papp):
    from crm_core.auth import create_user, issue_token
    from crm_core.testing import TEST_PASSWORD

    def make(username, roles=("admin",), department_id=None):
        with papp.app_context():
            raw, _ = issue_token(
                create_user(username, TEST_PASSWORD, roles=roles, department_id=department_id)
            )
        return {"Authorization": f"Bearer {raw}"}

    return make


@pytest.fixture
def person(pclient, headers, vault):
    h = headers("dpo")
    customer = pclient.post(
        "/api/v1/customers",
        json={"name": "韩梅梅", "email": "mm@example.com", "phone": "13900139000", "tags": ["vip"]},
        headers=h,
    ).json
    pclient.post(
        "/api/v1/activities",
        json={"kind": "note", "subject": "called", "body": "likes tea", "customer_id": customer["id"]},
        headers=h,
    )
    vault.notes[customer["id"]] = ["prefers WeChat"]
    return customer, h


def test_export_has_core_and_plugin_data(pclient, person):
    customer, h = person
    r = pclient.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=h)
    assert r.status_code == 200
    doc = r.json
    assert doc["format"] == "crm-core.privacy-export/1"
    assert doc["customer"]["email"] == "mm@example.com"
    assert [a["body"] for a in doc["activities"]] == ["likes tea"]
    assert doc["tags"] == ["vip"]
    assert doc["plugins"]["vault"] == {"notes": ["prefers WeChat"]}


def test_export_is_audited(pclient, person):
    customer, h = person
    pclient.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=h)
    entries = pclient.get(f"/api/v1/audit?resource=customers&record_id={customer['id']}", headers=h).json
    assert "read" in {e["action"] for e in entries}


def test_erase_anonymises_everywhere(papp, pclient, person, vault):
    customer, h = person
    r = pclient.post(f"/api/v1/customers/{customer['id']}/erase", headers=h)
    assert r.status_code == 200 and r.json["erased"]["activities"] == 1
    after = pclient.get(f"/api/v1/customers/{customer['id']}", headers=h).json
    assert after["name"] == f"Erased customer {customer['id']}"
    assert after["email"] is None and after["phone"] is None and after["tags"] == []
    assert customer["id"] not in vault.notes
    doc = pclient.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=h).json
    assert doc["activities"] == [] and doc["plugins"]["vault"] == {"notes": []}
    with papp.app_context():
        from crm_core.events.models import OutboxEvent

        assert OutboxEvent.select().where(OutboxEvent.type == "customer.erased").count() == 1


def test_failing_plugin_rolls_the_whole_erasure_back(pclient, person, vault):
    customer, h = person
    vault.fail_erase = True
    r = pclient.post(f"/api/v1/customers/{customer['id']}/erase", headers=h)
    assert r.status_code == 500 and r.is_json
    after = pclient.get(f"/api/v1/customers/{customer['id']}", headers=h).json
    assert after["email"] == "mm@example.com" and after["tags"] == ["vip"]


@pytest.mark.parametrize(
    "roles, export_code, erase_code", [(("readonly",), 403, 403), (("service",), 404, 404)]
)
def test_privacy_endpoints_obey_permissions(pclient, person, headers, roles, export_code, erase_code):
    customer, _ = person
    h = headers("someone", roles=roles)
    assert (
        pclient.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=h).status_code
        == export_code
    )
    assert pclient.post(f"/api/v1/customers/{customer['id']}/erase", headers=h).status_code == erase_code


def test_cli_erase_needs_confirmation(papp, person, db_url, tmp_path):
    from crm_core.cli import build_cli

    customer, _ = person
    env = {"CRM_DATABASE_URL": db_url, "CRM_INSTANCE_PATH": str(tmp_path)}
    refused = CliRunner().invoke(
        build_cli(), ["privacy", "erase", str(customer["id"]), "--as", "dpo"], env=env
    )
    assert refused.exit_code != 0 and "--yes" in refused.output
    done = CliRunner().invoke(
        build_cli(), ["privacy", "erase", str(customer["id"]), "--as", "dpo", "--yes"], env=env
    )
    assert done.exit_code == 0, done.output
