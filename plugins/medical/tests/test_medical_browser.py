"""The medical screens in real headless Chromium (Playwright with the distribution's browser):
the patient page as the treating doctor and as the front desk, a break-glass by a surgeon with
a refused reason, then a wrong password, then accepted, the head's review queue and the
patient's read audit, and the appointments calendar with a clashing then a free booking, in
English and Chinese.
Screenshots go to ``test-artifacts/screenshots/medical-*.png`` (``CRM_TEST_SCREENSHOT_DIR``)."""

from __future__ import annotations

import pytest

from crm_core.browser_testing import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Browser-Passw0rd!"
M = "/api/v1/medical"


def _seed(app) -> dict:
    """Two departments with their staff, a patient of psychiatry with a visit."""
    from crm_core.testing import user_with_token

    with app.app_context():
        _admin, h = user_with_token("admin", ["admin"], PASSWORD, name="Admin")
    api = app.test_client()

    def call(path, body, headers=h, status=201):
        r = api.post(path, json=body, headers=headers)
        assert r.status_code == status, (path, r.get_json())
        return r.get_json()

    depts = {name: call("/api/v1/departments", {"name": name})["id"] for name in ("精神科", "外科")}
    staff = {}
    with app.app_context():
        for username, role, dept in (
            ("psy_doctor", "medical_doctor", "精神科"),
            ("psy_head", "medical_department_head", "精神科"),
            ("psy_desk", "medical_front_desk", "精神科"),
            ("surgeon", "medical_doctor", "外科"),
        ):
            _user, staff[username] = user_with_token(username, [role], PASSWORD, department_id=depts[dept])
    body = {
        "name": "张伟",
        "phone": "+8613812345678",
        "custom": {"resident_id_number": "11010519491231002X", "allergies": "青霉素"},
    }
    patient = call("/api/v1/customers", body, staff["psy_doctor"])["id"]
    with app.app_context():
        from crm_core.plugin_api import users_with_role  # why here: needs the app's database

        doctor = users_with_role("medical_doctor", depts["精神科"])[0]
    for day, hour in (("2027-03-02", "09"), ("2027-03-04", "14")):
        slot = {"start_at": f"{day}T{hour}:00:00Z", "end_at": f"{day}T{hour}:30:00Z"}
        call(f"{M}/appointments", {"customer_id": patient, "doctor_id": doctor, **slot}, staff["psy_desk"])
    call(f"/api/v1/customers/{patient}/consents", {"purpose": "treatment", "status": "given"})
    call(
        f"{M}/records",
        {
            "customer_id": patient,
            "visit_no": "MZ20270301",
            "custom": {
                "complaint": "失眠两周",
                "diagnosis": "双相情感障碍",
                "prescriptions": "碳酸锂 300mg",
                "treatments": "心理治疗",
            },
        },
        staff["psy_doctor"],
    )
    return {"patient": patient, "doctor": doctor}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """crm-core with the medical plugin served on a free port from a temp SQLite database."""
    from crm_core.browser_testing import live_server

    with live_server(tmp_path_factory.mktemp("medical-browser"), seed=_seed) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from crm_core.browser_testing import chromium_browser

    return chromium_browser(CHROMIUM)


@pytest.fixture
def open_as(browser, server):
    """``open_as(username, locale)``: a signed-in page in a fresh context of that language."""
    from crm_core.browser_testing import signed_in_page

    contexts = []

    def run(username, locale="en-US"):
        page = signed_in_page(browser, server["url"], username, PASSWORD, locale)
        contexts.append(page.context)
        return page

    yield run
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"medical-{name}.png"), full_page=True)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_patient_page_for_the_doctor_and_the_front_desk(open_as, server, locale):
    page = open_as("psy_doctor", locale)
    page.goto(f"{server['url']}/medical/patients/{server['patient']}")
    assert page.locator("[data-clinical=diagnosis]").inner_text() == "双相情感障碍"
    assert page.locator("[data-patient=resident_id_number]").inner_text() == "11010519491231002X"
    shot(page, f"patient-doctor-{locale}")
    desk = open_as("psy_desk", locale)
    desk.goto(f"{server['url']}/medical/patients/{server['patient']}")
    assert desk.locator("[data-patient=resident_id_number]").inner_text() == "110105********002X"
    assert desk.locator("[data-patient=phone]").inner_text() == "+86 138****5678"
    assert (
        desk.locator("[data-clinical]").count() == 0 and desk.locator("[data-patient=allergies]").count() == 0
    )
    shot(desk, f"patient-front-desk-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_break_glass_then_review(open_as, server, locale):
    page = open_as("surgeon", locale)
    page.goto(f"{server['url']}/medical/patients/{server['patient']}")
    assert page.locator("[data-clinical]").count() == 0
    page.click("#break-glass summary")
    page.fill("#break-glass-form textarea[name=reason]", "急诊")
    shot(page, f"break-glass-dialog-{locale}")
    page.click("#break-glass-form button[type=submit]")
    error = page.locator("#break-glass-form small.crm-field-error[data-field=reason]")
    assert error.is_visible()
    page.fill("#break-glass-form textarea[name=reason]", "急诊昏迷，需要了解用药史与过敏史")
    page.select_option("#break-glass-form select[name=reason_code]", "PATIENT_UNCONSCIOUS")
    page.fill("#break-glass-form input[name=password]", "not-my-password-1")
    page.click("#break-glass-form button[type=submit]")
    assert page.locator("#break-glass-form small.crm-field-error[data-field=password]").is_visible()
    shot(page, f"break-glass-wrong-password-{locale}")
    page.fill("#break-glass-form input[name=password]", PASSWORD)
    page.click("#break-glass-form button[type=submit]")
    page.locator("#break-glass-window").wait_for()
    assert page.locator("[data-clinical=prescriptions]").inner_text() == "碳酸锂 300mg"
    shot(page, f"break-glass-opened-{locale}")
    head = open_as("psy_head", locale)
    head.goto(server["url"] + "/medical/break-glass/")
    row = head.locator("tr[data-reviewed=no]").first
    assert "急诊昏迷" in row.inner_text()
    shot(head, f"review-queue-{locale}")
    row.locator("details.review-form summary").click()
    row.locator("input[name=note]").fill("ER" if locale == "en-US" else "急诊属实")
    row.locator("button[type=submit]").click()
    head.locator(".crm-flash-success").wait_for()
    shot(head, f"review-done-{locale}")
    head.goto(f"{server['url']}/medical/patients/{server['patient']}/audit")
    marked = head.locator("tr[data-break-glass=yes]")
    assert marked.count() >= 1 and "surgeon" in marked.first.inner_text()
    shot(head, f"read-audit-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_calendar_books_around_a_clash(open_as, server, locale):
    page = open_as("psy_desk", locale)
    page.goto(f"{server['url']}/medical/appointments/?week=2027-03-01")
    assert page.locator("td[data-day='2027-03-02'] [data-appointment]").count() == 1
    page.click("#book summary")
    page.fill("#book-form [data-picker-input]", "张")
    page.locator("#book-form [role=option]").first.click()
    page.fill("#book-form input[name=start_at]", "2027-03-02T09:15")  # the seeded 09:00-09:30 (UTC)
    shot(page, f"calendar-booking-{locale}")
    page.click("#book-form button[type=submit]")
    assert page.locator("#book-form small.crm-field-error[data-field=start_at]").is_visible()
    shot(page, f"calendar-clash-{locale}")
    page.fill(
        "#book-form input[name=start_at]", "2027-03-05T10:00" if locale == "en-US" else "2027-03-05T11:00"
    )
    page.click("#book-form button[type=submit]")
    page.locator("td[data-day='2027-03-05'] [data-appointment]").first.wait_for()
    doctor = open_as("psy_doctor", locale)
    doctor.goto(f"{server['url']}/medical/appointments/?week=2027-03-01")
    assert doctor.locator("select[name=doctor] option:checked").get_attribute("value") == str(
        server["doctor"]
    )
    shot(doctor, f"calendar-doctor-{locale}")
