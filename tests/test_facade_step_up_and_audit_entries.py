"""Two facade functions plugins build screens on: ``verify_password`` (a step-up check with the
login's lockout and audit) and ``audit_entries`` (a page of the audit entries an actor may see,
about a record or naming it in a list of ``after``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from crm_core.errors import APIError
from crm_core.plugin_api import actor_for_user, audit_entries, record_event, verify_password
from crm_core.testing import TEST_PASSWORD


def test_verify_password_checks_the_users_own_password_with_the_login_lockout(
    app, client, admin_headers, make_user
):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user, _headers = make_user("stepper", roles=())
    with app.test_request_context("/"):
        assert verify_password(user, TEST_PASSWORD) is True
        assert verify_password(user, "wrong-passw0rd") is False
        assert verify_password(user, "") is False
        with pytest.raises(APIError) as locked:
            for _ in range(3):
                verify_password(user, "wrong-passw0rd")
        assert locked.value.code == 429
    failed = client.get(
        "/api/v1/audit", query_string={"action": "login_failed", "record_id": user.id}, headers=admin_headers
    ).get_json()
    assert len(failed) >= 3


def test_audit_entries_finds_an_entry_about_a_record_or_naming_it_in_a_list(app, make_user):
    admin_user, _h = make_user("auditor")
    reader_user, _h2 = make_user("reader", roles=())
    with app.test_request_context("/"):
        admin, reader = actor_for_user(admin_user), actor_for_user(reader_user)
        one = record_event(admin, "read", "customers", 7, extra={"ids": [7]}).id
        many = record_event(admin, "read", "customers", None, extra={"ids": [3, 7, 70]}).id
        other = record_event(admin, "read", "customers", None, extra={"ids": [17, 77]}).id
        record_event(admin, "read", "deals", 7, extra={"ids": [7]})
        entries, total = audit_entries(admin, "customers", kind="read", record_id=7, mentions=("ids", 7))
        assert (
            [e["id"] for e in entries] == [many, one]
            and total == 2
            and other not in [e["id"] for e in entries]
        )
        page, total = audit_entries(admin, "customers", mentions=("ids", 7), page=2, page_size=1)
        assert [e["id"] for e in page] == [one] and total == 2
        with pytest.raises(APIError) as refused:
            audit_entries(reader, "customers", record_id=7)
        assert refused.value.code == 403
