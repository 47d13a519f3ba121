"""The example plugin through the real app: API, permissions, job, events, CLI, web page."""

import sys

from crm_core.testing import deliver_events, run_cli

crm_hello = sys.modules["crm_hello"]  # loaded from the source tree by conftest.py


def create(client, headers, **body):
    r = client.post("/api/v1/hello/greetings", json={"text": "hi", **body}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def test_listed_as_a_plugin_with_its_hooks(hello_client, user_headers):
    plugins = {p["name"]: p for p in hello_client.get("/api/v1/plugins", headers=user_headers("ann")).json}
    assert plugins["hello"]["enabled"]
    assert {"crm_blueprints", "crm_jobs", "crm_event", "crm_permission_filter"} <= set(
        plugins["hello"]["hooks"]
    )


def test_crud_through_the_core_factory(hello_client, user_headers):
    headers = user_headers("ann")
    created = create(hello_client, headers, text="Happy birthday")
    r = hello_client.get(f"/api/v1/hello/greetings/{created['id']}", headers=headers)
    assert r.status_code == 200 and r.json["text"] == "Happy birthday" and r.headers["ETag"]
    r = hello_client.patch(
        f"/api/v1/hello/greetings/{created['id']}", json={"text": "Happy new year"}, headers=headers
    )
    assert r.status_code == 200 and r.json["text"] == "Happy new year"
    listed = hello_client.get("/api/v1/hello/greetings?q=new year", headers=headers)
    assert [g["id"] for g in listed.json] == [created["id"]] and "X-Pagination" in listed.headers
    assert hello_client.delete(f"/api/v1/hello/greetings/{created['id']}", headers=headers).status_code == 204


def test_bad_input_is_a_per_field_422(hello_client, user_headers):
    r = hello_client.post("/api/v1/hello/greetings", json={"text": ""}, headers=user_headers("ann"))
    assert r.status_code == 422 and "text" in r.json["errors"]


def test_in_openapi_under_its_own_tag(hello_client):
    spec = hello_client.get("/api/v1/openapi.json").json
    assert "/api/v1/hello/greetings" in spec["paths"]
    assert "hello" in {t["name"] for t in spec["tags"]}


def test_record_rule_hides_private_greetings_from_others(hello_client, user_headers):
    ann, bob = user_headers("ann"), user_headers("bob")
    secret = create(hello_client, ann, text="secret", private=True)
    shared = create(hello_client, ann, text="shared")
    assert [g["id"] for g in hello_client.get("/api/v1/hello/greetings", headers=bob).json] == [shared["id"]]
    assert hello_client.get(f"/api/v1/hello/greetings/{secret['id']}", headers=bob).status_code == 404
    assert hello_client.get(f"/api/v1/hello/greetings/{secret['id']}", headers=ann).status_code == 200


def test_veto_keeps_locked_greetings_unchanged(hello_client, user_headers):
    headers = user_headers("ann")
    locked = create(hello_client, headers, locked=True)
    assert (
        hello_client.patch(
            f"/api/v1/hello/greetings/{locked['id']}", json={"text": "x"}, headers=headers
        ).status_code
        == 403
    )
    assert hello_client.delete(f"/api/v1/hello/greetings/{locked['id']}", headers=headers).status_code == 403


def test_role_without_a_grant_is_refused(hello_client, user_headers):
    assert (
        hello_client.get("/api/v1/hello/greetings", headers=user_headers("sam", roles=("sales",))).status_code
        == 403
    )


def test_plugin_resource_is_known_to_the_permission_module(hello_client, user_headers):
    resources = hello_client.get("/api/v1/permissions", headers=user_headers("ann")).json["resources"]
    assert "send" in resources["hello.greetings"]["actions"]


def test_welcome_greeting_on_customer_created_once(hello_app, hello_client, user_headers):
    headers = user_headers("ann")
    customer = hello_client.post("/api/v1/customers", json={"name": "Li Lei"}, headers=headers).json
    with hello_app.app_context():
        deliver_events()
        deliver_events()
        greetings = list(crm_hello.Greeting.select().where(crm_hello.Greeting.customer_id == customer["id"]))
    assert [g.text for g in greetings] == ["Welcome, Li Lei!"]


def test_tally_job_runs_from_the_jobs_api(hello_client, user_headers):
    headers = user_headers("ann")
    create(hello_client, headers)
    create(hello_client, headers)
    jobs = {j["id"] for j in hello_client.get("/api/v1/jobs", headers=headers).json}
    assert "hello:tally" in jobs
    r = hello_client.post("/api/v1/jobs/hello:tally/run", headers=headers)
    assert r.status_code in (200, 201, 202), r.json
    assert r.json.get("outcome", r.json.get("status")) in ("success", "ok", "succeeded"), r.json
    assert crm_hello.Tally.get().greetings == 2


def test_cli_command(hello_app, hello_client, user_headers):
    create(hello_client, user_headers("ann"))
    result = run_cli(hello_app, "hello", "stats")
    assert result.exit_code == 0 and "greetings: 1" in result.output


def test_web_page_and_menu_entry(hello_client, user_headers):
    from crm_core.browser_testing import web_login

    user_headers("ann")
    create(hello_client, user_headers("bob"), text="Hello from the workbench")
    assert web_login(hello_client, "ann").status_code in (302, 303)
    page = hello_client.get("/hello/")
    assert page.status_code == 200 and "Hello from the workbench" in page.get_data(as_text=True)
    assert 'href="/hello/"' in hello_client.get("/").get_data(
        as_text=True
    ) or 'href="/hello/"' in page.get_data(as_text=True)


def test_template_adds_a_custom_field_once(hello_app, hello_client, user_headers):
    headers = user_headers("ann")
    for _ in range(2):
        result = run_cli(hello_app, "templates", "apply")
        assert result.exit_code == 0, result.output
    fields = hello_client.get("/api/v1/fields/customers", headers=headers).json
    assert [f["name"] for f in fields].count("greeting_name") == 1
    r = hello_client.post(
        "/api/v1/customers", json={"name": "Han", "custom": {"greeting_name": "Meimei"}}, headers=headers
    )
    assert r.status_code == 201 and r.json["custom"]["greeting_name"] == "Meimei"


def test_automation_action_greets_the_customer(hello_app, hello_client, user_headers):
    headers = user_headers("ann")
    result = run_cli(hello_app, "templates", "apply")
    assert result.exit_code == 0, result.output
    actions = {a["name"] for a in hello_client.get("/api/v1/automations/actions", headers=headers).json}
    assert "hello.greet" in actions
    rule = {
        "name": "greet newcomers",
        "trigger": "customer.created",
        "actions": [{"type": "hello.greet", "params": {"text": "Hi {name}!"}}],
    }
    assert hello_client.post("/api/v1/automations", json=rule, headers=headers).status_code == 201
    bad = {**rule, "actions": [{"type": "hello.greet", "params": {}}]}
    assert hello_client.post("/api/v1/automations", json=bad, headers=headers).status_code == 422
    customer = hello_client.post(
        "/api/v1/customers", json={"name": "Han", "custom": {"greeting_name": "Meimei"}}, headers=headers
    ).json
    with hello_app.app_context():
        deliver_events()
        texts = sorted(
            g.text
            for g in crm_hello.Greeting.select().where(crm_hello.Greeting.customer_id == customer["id"])
        )
    assert texts == ["Hi Meimei!", "Welcome, Han!"]
