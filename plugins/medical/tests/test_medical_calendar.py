"""The appointments calendar screen: a week per doctor (their own by default), the department
filter bounded by the same scope as the API, booking from the screen under the clash rule, in
English and Chinese (SQLite and PostgreSQL)."""

from __future__ import annotations

from medical_testlib import M, register_patient

from crm_core.browser_testing import post_form, web_login

WEEK = "2030-01-07"  # a Monday
PAGE = f"/medical/appointments/?week={WEEK}"


def _browser(app, username, lang="en"):
    browser = app.test_client()
    assert web_login(browser, username).status_code == 302
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return browser


def _book(client, headers, patient, doctor, start, end="2030-01-08T09:30:00Z"):
    body = {"customer_id": patient, "doctor_id": doctor, "start_at": start, "end_at": end}
    r = client.post(f"{M}/appointments", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_the_week_of_a_doctor_and_of_the_desk(app, client, admin_headers, clinic):
    desk = clinic.staff[("internal", "medical_front_desk")]
    patient = register_patient(
        client, clinic.staff[("internal", "medical_doctor")], admin_headers=admin_headers
    )
    doctor, head = (
        clinic.users[("internal", "medical_doctor")],
        clinic.users[("internal", "medical_department_head")],
    )
    own = _book(client, desk, patient, doctor, "2030-01-08T09:00:00Z")
    other = _book(client, desk, patient, head, "2030-01-09T10:00:00Z", "2030-01-09T10:20:00Z")
    later = _book(client, desk, patient, doctor, "2030-01-15T09:00:00Z", "2030-01-15T09:30:00Z")
    page = _browser(app, "internal_medical_doctor").get(PAGE).get_data(as_text=True)
    # their own by default, in the day's column
    assert f'data-appointment="{own}"' in page and f'data-appointment="{other}"' not in page
    assert f'data-appointment="{later}"' not in page and "09:00–09:30" in page
    assert page.index('<td data-day="2030-01-08"') < page.index(f'data-appointment="{own}"')
    every = _browser(app, "internal_medical_doctor").get(PAGE + "&doctor=").get_data(as_text=True)
    assert f'data-appointment="{own}"' in every and f'data-appointment="{other}"' in every
    # the desk is no doctor: every doctor of its department, in Chinese
    zh = _browser(app, "internal_medical_front_desk", "zh-CN").get(PAGE).get_data(as_text=True)
    assert f'data-appointment="{own}"' in zh and f'data-appointment="{other}"' in zh and "预约" in zh
    # another department's doctor asks for internal's calendar: their own scope answers
    surgeon = _browser(app, "surgery_medical_doctor").get(
        PAGE + f"&department={clinic.departments['internal']}"
    )
    text = surgeon.get_data(as_text=True)
    assert surgeon.status_code == 200 and "data-appointment=" not in text


def test_booking_from_the_screen_keeps_the_clash_rule(app, client, admin_headers, clinic):
    desk_headers = clinic.staff[("internal", "medical_front_desk")]
    patient = register_patient(
        client, clinic.staff[("internal", "medical_doctor")], admin_headers=admin_headers
    )
    doctor = clinic.users[("internal", "medical_doctor")]
    _book(client, desk_headers, patient, doctor, "2030-01-08T09:00:00Z")
    desk = _browser(app, "internal_medical_front_desk", "zh-CN")
    form = {"customer_id": patient, "doctor_id": doctor, "start_at": "2030-01-08T09:15", "minutes": "30"}
    path = f"/medical/appointments/?week={WEEK}&department={clinic.departments['internal']}"
    clash = post_form(desk, path, form, page=PAGE)
    text = clash.get_data(as_text=True)
    assert (
        clash.status_code == 409
        and 'data-field="start_at"' in text
        and "该医生在此时段已有重叠的预约" in text
    ), text[-3000:]
    missing = post_form(desk, path, {**form, "start_at": ""}, page=PAGE)
    assert missing.status_code == 422 and 'data-field="start_at"' in missing.get_data(as_text=True)
    booked = post_form(desk, path, {**form, "start_at": "2030-01-08T09:30"}, page=PAGE)
    assert booked.status_code == 302, booked.get_data(as_text=True)[-2000:]
    assert (
        f"doctor={doctor}" in booked.headers["Location"] and "week=2030-01-08" in booked.headers["Location"]
    )
    rows = client.get(
        f"{M}/appointments", query_string={"doctor_id": doctor}, headers=desk_headers
    ).get_json()
    assert sorted(r["start_at"][:16] for r in rows) == ["2030-01-08T09:00", "2030-01-08T09:30"]
    # a nurse of another department cannot book here (the API's placement rule)
    nurse = _browser(app, "surgery_medical_nurse")
    refused = post_form(nurse, path, {**form, "start_at": "2030-01-08T11:00"}, page=PAGE)
    assert (
        refused.status_code in (403, 422)
        and len(
            client.get(
                f"{M}/appointments", query_string={"doctor_id": doctor}, headers=desk_headers
            ).get_json()
        )
        == 2
    )
