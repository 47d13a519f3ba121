"""The loyalty programme through its HTTP API and CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from loyalty_testlib import L, at

from crm_core.testing import run_cli


def run_job(app, job, days):
    """Run ``crm loyalty <job> --at now+days`` against the test app."""
    result = run_cli(app, "loyalty", job, "--at", at(days).isoformat())
    assert result.exit_code == 0, result.output
    return result.output


def member(client, headers, customer_id):
    r = client.get(f"{L}/members/{customer_id}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def ledger(client, headers, customer_id, **params):
    r = client.get(f"{L}/members/{customer_id}/ledger", query_string=params, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_openapi_documents_the_api_and_the_tier_basis(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    for path in [
        "/api/v1/loyalty/tiers",
        "/api/v1/loyalty/rules",
        "/api/v1/loyalty/members",
        "/api/v1/loyalty/members/{customer_id}",
        "/api/v1/loyalty/members/{customer_id}/ledger",
        "/api/v1/loyalty/members/{customer_id}/redeem",
        "/api/v1/loyalty/members/{customer_id}/adjust",
        "/api/v1/loyalty/activities",
    ]:
        assert path in paths, path
    tag = next(t for t in doc["tags"] if t["name"] == "loyalty")
    assert "never on the spendable points balance" in tag["description"]


def test_enrol_earn_and_upgrade_on_the_crossing_purchase(client, program, purchase):
    headers = program()
    r = client.post(f"{L}/members", json={"customer_id": 11, "channel": "wechat"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["tier"] == "silver" and body["member_no"].startswith("M")
    assert client.post(f"{L}/members", json={"customer_id": 11}, headers=headers).status_code == 409

    r = purchase(11, "o-1", "600.00")
    assert r.status_code == 201
    assert r.get_json()["member"]["tier"] == "silver"
    progress = r.get_json()["member"]["progress"]
    assert progress["next"]["tier"] == "gold" and progress["next"]["needed"] == "400.00"

    r = purchase(11, "o-2", "500.00")  # 1100 in the window: crosses gold's 1000 now
    detail = r.get_json()["member"]
    assert detail["tier"] == "gold"
    assert detail["points"]["balance"] == 1100 == detail["points"]["active"]
    changes = client.get(f"{L}/members/11/tier-changes", headers=headers).get_json()
    assert [c["direction"] for c in changes] == ["up", "initial"]
    assert changes[0]["to_tier"] == "gold" and "o-2" in changes[0]["reason"]

    r = purchase(11, "o-3", "100.00")  # gold earns x1.5
    assert r.get_json()["entries"][0]["points"] == 150


def test_redeeming_points_never_drops_the_tier(client, program, purchase, app):
    headers = program(grace_days=0)
    purchase(12, "o-1", "1000.00")
    r = client.post(f"{L}/members/12/redeem", json={"points": 1000, "reference": "r-1"}, headers=headers)
    assert r.status_code == 201 and r.get_json()["points"]["balance"] == 0
    run_job(app, "evaluate-tiers", 1)
    assert member(client, headers, 12)["tier"] == "gold"


def test_downgrade_only_at_evaluation_after_grace_one_step_at_a_time(client, program, purchase, app):
    headers = program(grace_days=30, retention_days=0, downgrade_steps=1)
    purchase(13, "o-1", "6000.00")
    assert member(client, headers, 13)["tier"] == "platinum"

    run_job(app, "evaluate-tiers", 400)  # the purchase left the 365-day window: grace starts
    detail = member(client, headers, 13)
    assert detail["tier"] == "platinum" and detail["grace_until"] is not None
    assert detail["progress"]["current"]["in_grace"] is True

    run_job(app, "evaluate-tiers", 420)  # still in grace
    assert member(client, headers, 13)["tier"] == "platinum"

    run_job(app, "evaluate-tiers", 431)  # grace over: one step down, not straight to silver
    assert member(client, headers, 13)["tier"] == "gold"
    run_job(app, "evaluate-tiers", 432)  # a new grace period for gold
    assert member(client, headers, 13)["tier"] == "gold"
    run_job(app, "evaluate-tiers", 463)
    assert member(client, headers, 13)["tier"] == "silver"

    changes = client.get(f"{L}/members/13/tier-changes", headers=headers).get_json()
    assert [(c["from_tier"], c["to_tier"], c["direction"]) for c in changes[:2]] == [
        ("gold", "silver", "down"),
        ("platinum", "gold", "down"),
    ]
    assert all(c["reason"] for c in changes)


def test_requalifying_during_grace_keeps_the_tier(client, program, purchase, app):
    headers = program(grace_days=30)
    purchase(14, "o-1", "1500.00")
    run_job(app, "evaluate-tiers", 400)
    assert member(client, headers, 14)["grace_until"] is not None
    # a purchase dated inside the window of the later evaluation
    purchase(14, "o-2", "1200.00", occurred_at=at(405).isoformat())
    run_job(app, "evaluate-tiers", 440)
    detail = member(client, headers, 14)
    assert detail["tier"] == "gold" and detail["grace_until"] is None


def test_expiry_soonest_first_and_reversal_restores_exact_lots(client, program, app):
    headers = program(expiry_mode="never")
    client.post(f"{L}/members", json={"customer_id": 15}, headers=headers)
    for ref, days in [("late", 10), ("soon", 5), ("never", None)]:
        body = {"points": 100, "reference": ref, "reason": "goodwill"}
        if days is not None:
            body["expires_at"] = at(days).isoformat() + "Z"  # clients send UTC with a Z
        assert client.post(f"{L}/members/15/adjust", json=body, headers=headers).status_code == 201

    r = client.post(f"{L}/members/15/redeem", json={"points": 150, "reference": "r-1"}, headers=headers)
    assert r.status_code == 201
    entry = r.get_json()["entry"]
    credits = {e["reference"]: e["lots"][0] for e in ledger(client, headers, 15, kind="adjust")}
    used = [(lot["lot_id"], lot["points"]) for lot in entry["lots"]]
    assert used == [(credits["soon"]["lot_id"], 100), (credits["late"]["lot_id"], 50)]

    run_job(app, "expire-points", 11)  # "late" had 50 left; "soon" was used up
    expired = ledger(client, headers, 15, kind="expire")
    assert [(e["points"], e["lots"][0]["lot_id"]) for e in expired] == [(-50, credits["late"]["lot_id"])]
    detail = member(client, headers, 15)["points"]
    assert detail == {**detail, "balance": 100, "active": 100, "expired": 50, "spent": 150}

    r = client.post(
        f"{L}/members/15/reverse", json={"entry_id": entry["id"], "reference": "undo-1"}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    restored = sorted((lot["lot_id"], lot["points"]) for lot in r.get_json()["entry"]["lots"])
    assert restored == sorted([(credits["soon"]["lot_id"], -100), (credits["late"]["lot_id"], -50)])
    lots = {e["reference"]: e["lots"][0] for e in ledger(client, headers, 15, kind="adjust")}
    assert lots["soon"]["remaining"] == 100 and lots["soon"]["expires_at"] == credits["soon"]["expires_at"]
    assert member(client, headers, 15)["points"]["balance"] == 250
    # the restored lots keep their original expiry: both are expired again later
    run_job(app, "expire-points", 12)
    assert member(client, headers, 15)["points"]["balance"] == 100


def test_pending_points_become_active_after_the_return_window(client, program, purchase, app):
    headers = program(pending_days=7)
    purchase(16, "o-1", "300.00")
    points = member(client, headers, 16)["points"]
    assert (points["pending"], points["active"], points["balance"]) == (300, 0, 300)
    r = client.post(f"{L}/members/16/redeem", json={"points": 1, "reference": "r-1"}, headers=headers)
    assert r.status_code == 409 and r.get_json()["errors"]["points"]
    assert '"members": 0' in run_job(app, "activate-pending", 3)
    assert '"points": 300' in run_job(app, "activate-pending", 8)


@pytest.mark.parametrize(
    ("policy", "balance", "debt", "after_next_order"),
    [("debt", -400, 400, 100), ("clawback", 0, 400, 100)],
)
def test_refund_of_spent_points_records_debt_or_claws_back(
    client, program, purchase, policy, balance, debt, after_next_order
):
    headers = program(refund_policy=policy)
    purchase(17, "o-1", "500.00")
    client.post(f"{L}/members/17/redeem", json={"points": 400, "reference": "r-1"}, headers=headers)
    body = {"customer_id": 17, "kind": "refund", "reference": "rf-1", "order_reference": "o-1"}
    r = client.post(f"{L}/activities", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    points = r.get_json()["member"]["points"]
    assert (points["balance"], points["debt"], points["active"]) == (balance, debt, 0)
    # a repeat of the refund changes nothing
    again = client.post(f"{L}/activities", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["member"]["points"] == points
    # the next order pays the debt first
    purchase(17, "o-2", "500.00")
    points = member(client, headers, 17)["points"]
    assert (points["balance"], points["active"], points["debt"]) == (after_next_order, 100, 0)


def test_partial_refund_reverses_in_proportion(client, program, purchase):
    headers = program()
    purchase(18, "o-1", "800.00")
    r = client.post(
        f"{L}/activities",
        json={
            "customer_id": 18,
            "kind": "refund",
            "reference": "rf-1",
            "order_reference": "o-1",
            "amount": "200.00",
        },
        headers=headers,
    )
    assert [e["points"] for e in r.get_json()["entries"]] == [-200]
    assert r.get_json()["member"]["progress"]["current"]["value"] == "600.00"
    unknown = {"customer_id": 18, "kind": "refund", "reference": "rf-2", "order_reference": "nope"}
    assert client.post(f"{L}/activities", json=unknown, headers=headers).status_code == 422


def test_idempotent_references(client, program, purchase):
    headers = program()
    first = purchase(19, "o-1", "100.00")
    second = purchase(19, "o-1", "100.00")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["entries"][0]["id"] == second.get_json()["entries"][0]["id"]
    r1 = client.post(f"{L}/members/19/redeem", json={"points": 30, "reference": "cart-9"}, headers=headers)
    r2 = client.post(f"{L}/members/19/redeem", json={"points": 30, "reference": "cart-9"}, headers=headers)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r2.get_json()["points"]["balance"] == 70
    # the Idempotency-Key header serves as the reference
    k = {**headers, "Idempotency-Key": "cart-10"}
    assert client.post(f"{L}/members/19/redeem", json={"points": 5}, headers=k).status_code == 201
    assert client.post(f"{L}/members/19/redeem", json={"points": 5}, headers=k).status_code == 200
    assert member(client, headers, 19)["points"]["balance"] == 65
    assert len(ledger(client, headers, 19)) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": 0, "reference": "x"}, "points"),
        ({"points": -5, "reference": "x"}, "points"),
        ({"points": "many", "reference": "x"}, "points"),
        ({"reference": "x"}, "points"),
        ({"points": 5}, "reference"),
    ],
)
def test_bad_redeem_input_is_422_naming_the_field(client, program, purchase, body, field):
    headers = program()
    purchase(20, "o-1", "100.00")
    r = client.post(f"{L}/members/20/redeem", json=body, headers=headers)
    assert r.status_code == 422 and field in r.get_json()["errors"]


def test_overspending_is_409_and_changes_nothing(client, program, purchase):
    headers = program()
    purchase(21, "o-1", "100.00")
    r = client.post(f"{L}/members/21/redeem", json={"points": 101, "reference": "r"}, headers=headers)
    assert r.status_code == 409
    r = client.post(
        f"{L}/members/21/adjust", json={"points": -101, "reference": "a", "reason": "x"}, headers=headers
    )
    assert r.status_code == 409
    assert member(client, headers, 21)["points"]["balance"] == 100


def test_earning_rules_bonus_events_rounding_and_caps(client, program, purchase):
    headers = program()
    for rule in [
        {"name": "review", "kind": "review", "points": 10, "cap_per_day": 15, "apply_multiplier": False},
        {"name": "signup", "kind": "signup", "points": 50},
        {"name": "half", "kind": "purchase", "rate": "0.5", "rounding": "half_up", "min_amount": "10"},
    ]:
        assert client.post(f"{L}/rules", json=rule, headers=headers).status_code == 201
    r = client.post(f"{L}/members", json={"customer_id": 22}, headers=headers)
    assert r.get_json()["points"]["balance"] == 50  # signup bonus
    r = purchase(22, "o-1", "5.00")  # below the 0.5 rule's minimum: only 1 point per unit
    assert [e["points"] for e in r.get_json()["entries"]] == [5]
    r = purchase(22, "o-2", "15.00")  # 15 + round_half_up(7.5) = 8
    assert sorted(e["points"] for e in r.get_json()["entries"]) == [8, 15]
    got = []
    for i in range(3):
        body = {"customer_id": 22, "kind": "review", "reference": f"rv-{i}"}
        got.append(
            sum(
                e["points"]
                for e in client.post(f"{L}/activities", json=body, headers=headers).get_json()["entries"]
            )
        )
    assert got == [10, 5, 0]  # capped at 15 a day


def test_tier_and_rule_validation(client, admin_headers):
    bad = client.post(
        f"{L}/tiers", json={"code": "x", "name": "X", "rank": 1, "metric": "karma"}, headers=admin_headers
    )
    assert bad.status_code == 422 and "metric" in bad.get_json()["errors"]
    ok = {"code": "a", "name": "A", "rank": 1, "window": "lifetime"}
    assert client.post(f"{L}/tiers", json=ok, headers=admin_headers).status_code == 201
    dup = client.post(f"{L}/tiers", json={**ok, "code": "b"}, headers=admin_headers)
    assert dup.status_code == 409 and "rank" in dup.get_json()["errors"]
    rule = client.post(f"{L}/rules", json={"name": "r", "kind": "telepathy"}, headers=admin_headers)
    assert rule.status_code == 422 and "kind" in rule.get_json()["errors"]


def test_permissions_and_row_scopes(client, program, purchase, make_user, admin_headers):
    program()
    role = {
        "name": "cashier",
        "grants": [
            {"resource": "loyalty.members", "action": "read", "scope": "own"},
            {"resource": "loyalty.members", "action": "create", "scope": "own"},
            {"resource": "loyalty.points", "action": "read", "scope": "own"},
            {"resource": "loyalty.points", "action": "redeem", "scope": "own"},
            {"resource": "loyalty.activities", "action": "read", "scope": "all"},
            {"resource": "loyalty.activities", "action": "create", "scope": "all"},
            {"resource": "customers", "action": "read", "scope": "all"},
        ],
    }
    assert client.post("/api/v1/roles", json=role, headers=admin_headers).status_code == 201
    _, anna = make_user("anna", roles=("cashier",))
    _, bob = make_user("bob", roles=("cashier",))
    _, reader = make_user("reader", roles=("readonly",))

    assert purchase(31, "o-1", "100.00", headers=anna).status_code == 201  # enrols, owned by anna
    assert client.get(f"{L}/members/31", headers=anna).status_code == 200
    assert client.get(f"{L}/members/31", headers=bob).status_code == 404  # outside bob's scope
    assert [m["customer_id"] for m in client.get(f"{L}/members", headers=bob).get_json()] == []
    assert [m["customer_id"] for m in client.get(f"{L}/members", headers=anna).get_json()] == [31]
    r = client.post(f"{L}/members/31/redeem", json={"points": 1, "reference": "r"}, headers=bob)
    assert r.status_code == 404
    adjust = {"points": 10, "reference": "a", "reason": "x"}
    assert client.post(f"{L}/members/31/adjust", json=adjust, headers=anna).status_code == 403
    assert client.post(f"{L}/members/31/adjust", json=adjust, headers=admin_headers).status_code == 201
    # the built-in read-only role reads the programme (migration 0004) but changes nothing
    assert client.get(f"{L}/members", headers=reader).status_code == 200
    assert (
        client.post(
            f"{L}/members/31/redeem", json={"points": 1, "reference": "q"}, headers=reader
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"{L}/tiers", json={"code": "z", "name": "Z", "rank": 99, "window": "lifetime"}, headers=anna
        ).status_code
        == 403
    )
    assert client.get(f"{L}/members/31").status_code == 401


def test_member_list_filters_by_tier(client, program, purchase):
    headers = program()
    purchase(41, "o-1", "50.00")
    purchase(42, "o-1", "2000.00")
    r = client.get(f"{L}/members", query_string={"tier": "gold"}, headers=headers)
    assert [m["customer_id"] for m in r.get_json()] == [42]
    assert "X-Pagination" in r.headers
    assert client.get(f"{L}/members", query_string={"nonsense": "1"}, headers=headers).status_code == 400


def test_manual_tier_change_is_recorded(client, program, purchase):
    headers = program()
    purchase(43, "o-1", "50.00")
    r = client.patch(f"{L}/members/43", json={"tier": "platinum", "reason": "VIP by hand"}, headers=headers)
    assert r.status_code == 200 and r.get_json()["tier"] == "platinum"
    change = client.get(f"{L}/members/43/tier-changes", headers=headers).get_json()[0]
    assert (change["direction"], change["reason"]) == ("manual", "VIP by hand")
    assert client.patch(f"{L}/members/43", json={"tier": "nope"}, headers=headers).status_code == 422


@pytest.mark.parametrize(
    ("metric", "window", "threshold", "amounts", "before_last", "value"),
    [
        ("orders", "calendar_year", "3", ["10", "10", "10"], "base", "3.00"),
        ("growth", "lifetime", "150", ["100", "49", "1"], "base", "150.00"),
        ("spend", "lifetime", "300", ["100", "100", "100"], "base", "300.00"),
    ],
)
def test_metrics_and_windows(
    client, admin_headers, purchase, app, metric, window, threshold, amounts, before_last, value
):
    tiers = [
        {"code": "base", "name": "Base", "rank": 1, "window": "lifetime"},
        {"code": "top", "name": "Top", "rank": 2, "metric": metric, "window": window, "threshold": threshold},
    ]
    for tier in tiers:
        assert client.post(f"{L}/tiers", json=tier, headers=admin_headers).status_code == 201
    client.post(f"{L}/rules", json={"name": "1/unit", "kind": "purchase", "rate": "1"}, headers=admin_headers)
    for i, amount in enumerate(amounts):
        r = purchase(50, f"o-{i}", amount)
        if i == len(amounts) - 2:
            assert r.get_json()["member"]["tier"] == before_last
    detail = r.get_json()["member"]
    assert detail["tier"] == "top"
    assert detail["progress"]["current"]["value"] == value and detail["progress"]["next"] is None
    # a calendar-year tier is kept within the year but lost after the next year's grace
    run_job(app, "evaluate-tiers", 1)
    assert member(client, admin_headers, 50)["tier"] == "top"
    if window == "calendar_year":
        run_job(app, "evaluate-tiers", 370)
        run_job(app, "evaluate-tiers", 401)
        assert member(client, admin_headers, 50)["tier"] == "base"


def test_evaluation_catches_up_upgrades_after_a_threshold_change(client, program, purchase, app):
    headers = program()
    purchase(60, "o-1", "800.00")
    assert member(client, headers, 60)["tier"] == "silver"
    gold = next(t for t in client.get(f"{L}/tiers", headers=headers).get_json() if t["code"] == "gold")
    assert (
        client.patch(f"{L}/tiers/{gold['id']}", json={"threshold": "500"}, headers=headers).status_code == 200
    )
    run_job(app, "evaluate-tiers", 0)
    assert member(client, headers, 60)["tier"] == "gold"
    change = client.get(f"{L}/members/60/tier-changes", headers=headers).get_json()[0]
    assert (change["direction"], change["reason"]) == ("up", "evaluation: qualifies for a higher tier")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("month_end", lambda d: (d.month, 23, 59)), ("year_end", lambda d: (12, 23, 59)), ("never", None)],
)
def test_expiry_at_a_period_end(client, program, purchase, mode, expected):
    import datetime as dt

    headers = program(expiry_mode=mode)
    purchase(61, "o-1", "10.00")
    lot = ledger(client, headers, 61, kind="earn")[0]["lots"][0]
    if expected is None:
        assert lot["expires_at"] is None
    else:
        expires = dt.datetime.fromisoformat(lot["expires_at"])
        today = at(0)
        assert (expires.month, expires.hour, expires.minute) == expected(today)
        assert (expires + dt.timedelta(seconds=1)).day == 1  # the last second of the period


def refund(client, headers, customer_id, reference, order, amount=None):
    body = {"customer_id": customer_id, "kind": "refund", "reference": reference, "order_reference": order}
    if amount is not None:
        body["amount"] = amount
    r = client.post(f"{L}/activities", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_two_partial_refunds_under_clawback_never_take_more_than_earned(client, program, purchase):
    headers = program(refund_policy="clawback")
    purchase(62, "o-1", "500.00")
    client.post(f"{L}/members/62/redeem", json={"points": 400, "reference": "r-1"}, headers=headers)
    points = refund(client, headers, 62, "rf-1", "o-1", "300.00")["member"]["points"]
    assert (points["balance"], points["debt"]) == (0, 200)
    points = refund(client, headers, 62, "rf-2", "o-1")["member"]["points"]
    assert (points["balance"], points["debt"]) == (0, 400)  # 500 earned, 500 reversed in all
    purchase(62, "o-2", "1000.00")
    points = member(client, headers, 62)["points"]
    assert (points["balance"], points["debt"], points["active"]) == (600, 0, 600)


def test_refund_does_not_take_back_points_that_expired(client, program, purchase, app):
    headers = program(expiry_mode="days", expiry_days=10)
    purchase(63, "o-1", "100.00")
    run_job(app, "expire-points", 11)
    body = refund(client, headers, 63, "rf-1", "o-1")
    assert body["entries"] == [] and body["member"]["points"]["balance"] == 0
    assert body["member"]["points"]["debt"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "purchase", "reference": "o", "amount": "1e20"}, "amount"),
        ({"kind": "purchase", "reference": "o", "amount": "-1"}, "amount"),
        ({"kind": "purchase", "reference": "o", "amount": "NaN"}, "amount"),
        ({"kind": "purchase", "reference": "o"}, "amount"),
        ({"kind": "teleport", "reference": "o"}, "kind"),
        ({"kind": "refund", "reference": "r"}, "order_reference"),
        ({"kind": "purchase", "reference": "o", "amount": "1", "occurred_at": "yesterday"}, "occurred_at"),
        ({"kind": "review", "reference": ""}, "reference"),
        ({"customer_id": 2**40, "kind": "review", "reference": "x"}, "customer_id"),
    ],
)
def test_bad_activity_input_is_422_naming_the_field(client, program, body, field):
    headers = program()
    r = client.post(f"{L}/activities", json={"customer_id": 70, **body}, headers=headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"]


def test_a_purchase_worth_too_many_points_is_refused(client, program, purchase, admin_headers):
    program()
    client.post(
        f"{L}/rules", json={"name": "x1000", "kind": "purchase", "rate": "1000"}, headers=admin_headers
    )
    r = purchase(71, "o-1", "999999999.00")
    assert r.status_code == 422 and "amount" in r.get_json()["errors"]
    assert client.get(f"{L}/members/71", headers=admin_headers).get_json()["points"]["balance"] == 0
