"""The loyalty jobs run as of their ``JobContext``'s clock: ``crm jobs run loyalty:<job> --at``
(the scheduler's own command) back-fills exactly like ``crm loyalty <job> --at``."""

from __future__ import annotations

from loyalty_testlib import L, at

from crm_core.testing import run_cli


def test_the_scheduler_job_expires_points_as_of_the_context_clock(client, program, app):
    headers = program(expiry_mode="never")
    client.post(f"{L}/members", json={"customer_id": 15}, headers=headers)
    body = {"points": 80, "reference": "short", "reason": "goodwill", "expires_at": at(5).isoformat() + "Z"}
    assert client.post(f"{L}/members/15/adjust", json=body, headers=headers).status_code == 201

    today = run_cli(app, "jobs", "run", "loyalty:expire_points")
    assert today.exit_code == 0, today.output
    assert client.get(f"{L}/members/15/ledger?kind=expire", headers=headers).get_json() == []

    later = run_cli(app, "jobs", "run", "loyalty:expire_points", "--at", f"{at(6):%Y-%m-%dT%H:%M:%S}")
    assert later.exit_code == 0, later.output
    expired = client.get(f"{L}/members/15/ledger?kind=expire", headers=headers).get_json()
    assert [e["points"] for e in expired] == [-80]
