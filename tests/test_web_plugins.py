"""Plugins extend the workbench through ``crm_nav`` (menu entries, dashboard panels, customer 360
panels) and ``crm_web_blueprints`` (their own pages and templates)."""

from __future__ import annotations

from flask import Blueprint

from crm_core import hookimpl
from crm_core.browser_testing import web_login
from crm_core.web import login_required


def make_plugin(folder):
    (folder / "demo").mkdir()
    (folder / "demo" / "panel.html").write_text(
        '<p id="demo-panel">points of {{ data.name }} for {{ actor.user.username }}</p>'
    )
    (folder / "demo" / "dash.html").write_text('<p id="demo-dash">dashboard panel</p>')
    (folder / "demo" / "broken.html").write_text("{{ no_such_function() }}")
    (folder / "demo" / "page.html").write_text(
        '{% extends "crm/base.html" %}{% block content %}<h1>Demo page</h1>{% endblock %}'
    )
    blp = Blueprint("demo_web", __name__, template_folder=str(folder))

    @blp.route("/demo")
    @login_required
    def demo_page():
        from flask import render_template

        return render_template("demo/page.html")

    class Plugin:
        @hookimpl
        def crm_web_blueprints(self):
            return [blp]

        @hookimpl
        def crm_nav(self):
            return [
                {"label": "Demo", "endpoint": "demo_web.demo_page", "permission": "customers:read"},
                {"label": "Secret", "endpoint": "demo_web.demo_page", "permission": "audit:export"},
                {
                    "label": "Points",
                    "kind": "customer_panel",
                    "template": "demo/panel.html",
                    "permission": "customers:read",
                },
                {
                    "label": "Broken",
                    "kind": "customer_panel",
                    "template": "demo/broken.html",
                    "permission": None,
                },
                {
                    "label": "Demo stats",
                    "kind": "dashboard",
                    "template": "demo/dash.html",
                    "permission": None,
                },
            ]

    return Plugin()


def test_plugin_menu_pages_and_panels(register_plugin, make_user, tmp_path):
    app = register_plugin(make_plugin(tmp_path), "demo")
    make_user("seller", roles=("sales",))
    _admin, h = make_user("chief", roles=("admin",))
    api = app.test_client()
    r = api.post("/api/v1/customers", json={"name": "Panel Person"}, headers=h)
    assert r.status_code == 201, r.get_json()
    cid = r.get_json()["id"]
    browser = app.test_client()
    web_login(browser, "seller")
    home = browser.get("/").get_data(as_text=True)
    menu = home.split('class="crm-menu"', 1)[1].split("</ul>", 1)[0]
    assert 'href="/demo"' in menu and ">Demo<" in menu
    assert "Secret" not in menu, "entries whose permission the user lacks are left out"
    assert 'id="demo-dash"' in home
    assert "<h1>Demo page</h1>" in browser.get("/demo").get_data(as_text=True)
    admin = app.test_client()
    web_login(admin, "chief")
    page = admin.get(f"/records/customers/{cid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<p id="demo-panel">points of Panel Person for chief</p>' in html
    assert "This panel could not be shown." in html, "a broken panel does not break the page"
    anonymous = app.test_client()
    assert anonymous.get("/demo").status_code == 302
