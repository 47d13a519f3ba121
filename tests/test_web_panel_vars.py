"""A customer panel receives its plugin's data: the ``template_vars`` of a ``crm_nav`` panel is
called with the customer and the viewer when (and only when) the panel renders for that viewer."""

from __future__ import annotations

from crm_core import hookimpl
from crm_core.browser_testing import web_login


class PanelPlugin:
    """A panel whose data the plugin computes per customer and viewer; one the viewer may not
    see; one whose data function fails."""

    def __init__(self, folder):
        (folder / "pv").mkdir()
        (folder / "pv" / "visits.html").write_text(
            '<p id="pv">{{ visits }} visits of {{ customer.name }}, counted for {{ viewer }}</p>'
        )
        (folder / "pv" / "secret.html").write_text('<p id="pv-secret">{{ secret }}</p>')
        self.folder = folder
        self.calls = []

    def visits(self, customer, actor):
        self.calls.append(("visits", customer.id, actor.user.username))
        return {"visits": 3, "viewer": actor.user.username, "customer": "not the core's"}

    def secret(self, customer):
        self.calls.append(("secret", customer.id))
        return {"secret": "only for auditors"}

    @staticmethod
    def broken(**context):
        raise RuntimeError("the visit counter is down")

    @hookimpl
    def crm_web_blueprints(self):
        from flask import Blueprint

        return [Blueprint("pv_templates", __name__, template_folder=str(self.folder))]

    @hookimpl
    def crm_nav(self):
        panel = {"kind": "customer_panel", "permission": "customers:read"}
        return [
            {**panel, "label": "Visits", "template": "pv/visits.html", "template_vars": self.visits},
            {
                **panel,
                "label": "Secret",
                "template": "pv/secret.html",
                "template_vars": self.secret,
                "permission": "audit:export",
            },
            {**panel, "label": "Broken", "template": "pv/visits.html", "template_vars": self.broken},
        ]


def test_a_customer_panel_renders_its_plugins_data_for_the_viewer(register_plugin, make_user, tmp_path):
    plugin = PanelPlugin(tmp_path)
    app = register_plugin(plugin, "pv")
    make_user("seller", roles=("sales",))
    _admin, headers = make_user("chief", roles=("admin",))
    r = app.test_client().post("/api/v1/customers", json={"name": "Vera Visit"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    cid = r.get_json()["id"]

    browser = app.test_client()
    web_login(browser, "chief")
    page = browser.get(f"/records/customers/{cid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # the plugin's variables reach the template; the core's own (customer) win a clash
    assert '<p id="pv">3 visits of Vera Visit, counted for chief</p>' in html
    assert "This panel could not be shown." in html, "a failing data function shows a notice"
    assert ("visits", cid, "chief") in plugin.calls

    plugin.calls.clear()
    assert browser.get("/").status_code == 200
    assert plugin.calls == [], "panel data is computed only when the customer page renders the panel"


def test_panel_data_is_not_computed_for_a_viewer_who_may_not_see_the_panel(
    register_plugin, make_user, tmp_path
):
    plugin = PanelPlugin(tmp_path)
    app = register_plugin(plugin, "pv")
    _admin, headers = make_user("chief", roles=("admin",))
    seller_user, _ = make_user("seller", roles=("sales",))
    r = app.test_client().post(
        "/api/v1/customers", json={"name": "Sam Seller", "owner_id": seller_user.id}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    cid = r.get_json()["id"]
    browser = app.test_client()
    web_login(browser, "chief")
    assert 'id="pv-secret"' in browser.get(f"/records/customers/{cid}").get_data(as_text=True)
    plugin.calls.clear()

    seller = app.test_client()
    web_login(seller, "seller")
    assert seller.get(f"/records/customers/{cid}").status_code == 200
    assert ("visits", cid, "seller") in plugin.calls, "the seller sees the customer and its panel"
    assert not [c for c in plugin.calls if c[0] == "secret"], "no data for a panel the viewer cannot see"
