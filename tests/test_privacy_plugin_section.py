"""Where a plugin's ``crm_export_customer`` data sits in the privacy export: under
``plugins.<plugin name>``, as the hook's documentation says, through the HTTP endpoint."""

from __future__ import annotations

from crm_core import hookimpl
from crm_core.hookspecs import crm_export_customer as export_spec


class Warranties:
    @hookimpl
    def crm_export_customer(self, customer):
        return {"warranties": [{"serial": "W-1", "customer": customer.name}]}


class Silent:
    @hookimpl
    def crm_export_customer(self, customer):
        return None


def test_plugin_data_sits_under_plugins_and_its_name(register_plugin, make_user):
    app = register_plugin(Warranties(), "warranty")
    _admin, headers = make_user("dpo", roles=("admin",))
    client = app.test_client()
    cid = client.post("/api/v1/customers", json={"name": "Pia Privacy"}, headers=headers).get_json()["id"]
    r = client.get(f"/api/v1/customers/{cid}/privacy-export", headers=headers)
    assert r.status_code == 200, r.get_json()
    document = r.get_json()
    assert document["plugins"]["warranty"] == {"warranties": [{"serial": "W-1", "customer": "Pia Privacy"}]}
    assert "warranty" not in document, "a plugin's data never sits beside the core's sections"
    assert "plugins.<plugin name>" in export_spec.__doc__, "the hook documents where the data goes"


def test_a_plugin_returning_none_is_left_out(register_plugin, make_user):
    app = register_plugin(Silent(), "silent")
    _admin, headers = make_user("dpo", roles=("admin",))
    client = app.test_client()
    cid = client.post("/api/v1/customers", json={"name": "Nil Nobody"}, headers=headers).get_json()["id"]
    document = client.get(f"/api/v1/customers/{cid}/privacy-export", headers=headers).get_json()
    assert "silent" not in document["plugins"]
