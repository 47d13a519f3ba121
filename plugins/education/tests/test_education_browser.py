"""The school's screens in real headless Chromium: the timetable from the menu, roll call on the
roster and the student's hours ledger, in English and Chinese, as an admin and as a teacher who
sees no fees. Screenshots go to ``test-artifacts/screenshots/`` (``CRM_TEST_SCREENSHOT_DIR``)."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_core.browser_testing import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "Browser-Passw0rd!"
E = "/api/v1/education"


def _monday() -> dt.date:
    today = dt.date.today()
    return today - dt.timedelta(days=today.weekday())


def _seed(app) -> dict:
    """An admin, a teacher (fees hidden), a class with two students and this week's sessions."""
    from crm_core.testing import user_with_token

    with app.app_context():
        _admin, h = user_with_token("admin", ["admin"], PASSWORD, name="Admin")
    api = app.test_client()

    def call(path, body, status=201):
        r = api.post(path, json=body, headers=h)
        assert r.status_code == status, (path, r.get_json())
        return r.get_json()

    read = (
        "customers",
        "education.classes",
        "education.sessions",
        "education.packages",
        "education.hours",
        "education.courses",
    )
    call(
        "/api/v1/roles",
        {
            "name": "teacher",
            "grants": [
                {"resource": r, "action": "read", "scope": "own" if r in read[1:3] else "all"} for r in read
            ]
            + [{"resource": "education.sessions", "action": "roll_call", "scope": "own"}],
            "field_rules": [
                {"resource": "education.packages", "field": "price", "rule": "hidden"},
                {"resource": "education.hours", "field": "amount", "rule": "hidden"},
            ],
        },
    )
    teacher = call(
        "/api/v1/users", {"username": "teacher", "password": PASSWORD, "roles": ["teacher"], "name": "王老师"}
    )
    course = call(f"{E}/courses", {"name": "少儿钢琴", "hours_per_session": "1.5"})["id"]
    room = call(f"{E}/rooms", {"name": "琴房 A", "capacity": 6})["id"]
    other_room = call(f"{E}/rooms", {"name": "琴房 B", "capacity": 6})["id"]
    klass = call(
        f"{E}/classes",
        {
            "name": "钢琴启蒙班",
            "course_id": course,
            "teacher_id": teacher["id"],
            "room_id": room,
            "capacity": 6,
        },
    )["id"]
    evening = call(f"{E}/classes", {"name": "成人钢琴", "course_id": course, "room_id": other_room})["id"]
    students = [call("/api/v1/customers", {"name": n})["id"] for n in ("李雷", "韩梅梅")]
    for s in students:
        call(f"{E}/enrolments", {"customer_id": s, "class_id": klass})
        call(
            f"{E}/packages",
            {
                "customer_id": s,
                "course_id": course,
                "hours": "12",
                "price": "1800",
                "valid_from": "2026-01-01",
            },
        )
    monday = _monday()
    term = call(
        f"{E}/classes/{klass}/generate",
        {
            "from": monday.isoformat(),
            "until": (monday + dt.timedelta(days=6)).isoformat(),
            "weekdays": [1, 3, 5],
            "start": "16:00",
            "end": "17:30",
        },
    )
    call(
        f"{E}/classes/{evening}/generate",
        {
            "from": monday.isoformat(),
            "until": (monday + dt.timedelta(days=6)).isoformat(),
            "weekdays": [1, 4],
            "start": "19:00",
            "end": "20:30",
        },
    )
    return {"students": students, "session": term["session_ids"][0], "teacher": teacher["id"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """crm-core with the education plugin served on a free port from a temp SQLite database."""
    from crm_core.browser_testing import live_server

    with live_server(tmp_path_factory.mktemp("education-browser"), seed=_seed) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from crm_core.browser_testing import chromium_browser

    return chromium_browser()


@pytest.fixture
def open_as(browser, server):
    """``open_as(username, locale)``: a logged-in page in a fresh context of that language."""
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
    page.screenshot(path=str(SCREENSHOTS / f"education-{name}.png"), full_page=True)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_timetable_from_the_menu_by_room_and_teacher(open_as, server, locale):
    page = open_as("admin", locale)
    menu = page.locator("a[href='/education/timetable']")
    assert menu.inner_text() == ("课表" if locale == "zh-CN" else "Timetable")
    menu.click()
    page.wait_for_url(server["url"] + "/education/timetable")
    slot = page.locator(f"[data-session='{server['session']}']")
    assert "16:00–17:30" in slot.inner_text() and "钢琴启蒙班" in slot.inner_text()
    assert page.locator("#timetable tbody tr").count() == 2  # two rooms
    shot(page, f"timetable-rooms-{locale}")
    page.click("#by-teacher")
    page.locator(f"tr[data-row='{server['teacher']}']").wait_for()
    shot(page, f"timetable-teachers-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_teacher_calls_the_roll_and_sees_hours_without_fees(open_as, server, locale):
    page = open_as("teacher", locale)
    page.goto(f"{server['url']}/education/sessions/{server['session']}")
    first, second = server["students"]
    page.check(f"input[name='mark-{first}'][value=present]")
    page.check(f"input[name='mark-{second}'][value=leave]")
    shot(page, f"roll-call-{locale}")
    page.click("#save-roll-call")
    page.locator(".crm-flash-success").wait_for()
    assert page.locator(f"input[name='mark-{first}'][value=present]").is_checked()
    page.click(f"tr[data-student='{first}'] a")
    page.locator("#total-hours").wait_for()
    assert page.locator("#total-hours").inner_text() == "10.50"
    assert page.locator("[data-price]").count() == 0 and page.locator("[data-amount]").count() == 0
    assert page.locator("tr[data-kind=consume]").count() == 1
    shot(page, f"student-hours-teacher-{locale}")


def test_admin_sees_the_fees_on_the_student_page(open_as, server):
    page = open_as("admin", "zh-CN")
    page.goto(f"{server['url']}/education/students/{server['students'][1]}")
    assert "实付 1800.00" in page.locator("[data-price]").first.inner_text()
    assert page.locator("tr[data-kind=purchase] [data-amount]").inner_text() == "1800.00"
    shot(page, "student-hours-admin-zh-CN")
