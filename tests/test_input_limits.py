"""Bad input never answers 500 (issue 14): limits in crm_core.inputs, through the public API."""

from __future__ import annotations

import json

import pytest

DEEP = '{"name": ' + "[" * 20000 + "]" * 20000 + "}"
BIG_INT = "9" * 5000
HUGE_ID = "1924501434359078161743872"
HUGE_PAGE = "6511829405027001357417754355314982912"

# (method, path, raw JSON body or None, expected status, field the errors must name or None)
CASES = [
    # JSON nested 20,000 deep
    ("POST", "/api/v1/customers", DEEP, 400, None),
    ("POST", "/api/v1/deals", DEEP, 400, None),
    ("POST", "/api/v1/fields/customers", DEEP, 400, None),
    ("POST", "/api/v1/objects", DEEP, 400, None),
    ("POST", "/api/v1/roles", DEEP, 400, None),
    ("POST", "/api/v1/loyalty/members/1/redeem", DEEP, 400, None),
    # a 5,000-digit integer (Python refuses to convert it), and beyond 64 bits
    ("POST", "/api/v1/customers", '{"name": "x", "owner_id": ' + BIG_INT + "}", 422, "owner_id"),
    ("POST", "/api/v1/deals", '{"name": "x", "amount": ' + BIG_INT + "}", 422, "amount"),
    ("POST", "/api/v1/customers", '{"name": "x", "owner_id": ' + HUGE_ID + "}", 422, "owner_id"),
    ("POST", "/api/v1/customers", '{"name": "x", "owner_id": "' + HUGE_ID + '"}', 422, "owner_id"),
    ("POST", "/api/v1/customers", '{"name": "x", "custom": {"score": 1e400}}', 422, "custom.score"),
    ("POST", "/api/v1/customers", '{"name": "x", "custom": {"score": NaN}}', 422, "custom.score"),
    # a lone surrogate, escaped or encoded
    ("POST", "/api/v1/customers", '{"name": "\\ud800"}', 422, "name"),
    ("POST", "/api/v1/companies", '{"name": "a\\udfffb"}', 422, "name"),
    ("POST", "/api/v1/customers", b'{"name": "\xed\xa0\x80"}', 400, None),
    # NUL characters, named by field (loyalty and conversion references too)
    ("POST", "/api/v1/customers", '{"name": "a\\u0000b"}', 422, "name"),
    ("POST", "/api/v1/loyalty/members/1/redeem", '{"points": 1, "reference": "r\\u0000"}', 422, "reference"),
    (
        "POST",
        "/api/v1/channel-tracking/conversions",
        '{"reference": "c\\u0000", "value": 1}',
        422,
        "reference",
    ),
    # ids and pages beyond 64-bit signed: 404 for path ids, 4xx naming the query parameter
    ("DELETE", f"/api/v1/deals/{HUGE_ID}", None, 404, None),
    ("GET", f"/api/v1/customers/{HUGE_ID}", None, 404, None),
    ("GET", f"/api/v1/customers/{BIG_INT}", None, 404, None),
    ("GET", f"/api/v1/users/{HUGE_ID}", None, 404, None),
    ("GET", f"/api/v1/roles/{HUGE_ID}", None, 404, None),
    ("GET", f"/api/v1/departments/{HUGE_ID}", None, 404, None),
    ("GET", f"/api/v1/roles?page={HUGE_PAGE}", None, 422, "page"),
    ("GET", "/api/v1/roles?page=1000000000000000000", None, 422, "page"),
    ("GET", f"/api/v1/users?page={HUGE_PAGE}", None, 422, "page"),
    ("GET", f"/api/v1/events?page={HUGE_PAGE}", None, 422, "page"),
    ("GET", f"/api/v1/customers?page={HUGE_PAGE}", None, 400, "page"),
    ("GET", f"/api/v1/customers?owner_id={HUGE_ID}", None, 400, "owner_id"),
    # a 100,000-character label: the columns hold 200
    (
        "POST",
        "/api/v1/fields/customers",
        {"name": "big", "type": "text", "label": "x" * 100_000},
        422,
        "label",
    ),
    ("POST", "/api/v1/objects", {"name": "thing", "label": "x" * 100_000}, 422, "label"),
    ("POST", "/api/v1/objects", {"name": "thing", "label": {"zh-CN": "x" * 201}}, 422, "label"),
    # malformed JSON stays a plain 400
    ("POST", "/api/v1/customers", '{"name": "x",', 400, None),
]


def _send(client, headers, method, path, body):
    if isinstance(body, dict):
        body = json.dumps(body)
    return client.open(
        path, method=method, data=body, headers={**headers, "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    "method,path,body,status,field",
    CASES,
    ids=[f"{c[0]} {c[1][:45]} {i}" for i, c in enumerate(CASES)],
)
def test_bad_input_is_a_client_error(client, admin_headers, method, path, body, status, field):
    response = _send(client, admin_headers, method, path, body)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    answer = json.loads(response.get_data(as_text=True))
    assert answer["code"] == status and "errors" in answer
    if field is not None:
        assert field in answer["errors"], answer


def test_numbers_in_range_still_work(client, admin_headers):
    response = _send(
        client, admin_headers, "POST", "/api/v1/customers", '{"name": "Ann \\u00e9\\ud83d\\ude00"}'
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "Ann \u00e9\U0001f600"
    assert client.get("/api/v1/roles?page=1000000000", headers=admin_headers).status_code == 200
    deep_ok = {"name": "ok", "custom": {}}
    assert _send(client, admin_headers, "POST", "/api/v1/customers", deep_ok).status_code == 201
    assert client.get(f"/api/v1/customers/{2**63 - 1}", headers=admin_headers).status_code == 404


def test_error_body_is_capped(client, admin_headers):
    body = json.dumps({"name": "x", **{f"k{i}": 1 for i in range(900_000)}})
    response = _send(client, admin_headers, "POST", "/api/v1/customers", body)
    assert response.status_code == 422
    assert len(response.data) < 10_000
    answer = response.get_json()
    assert len(answer["errors"]) == 50
    assert answer["error_count"] == 900_000
    assert "and 899950 more" in answer["message"]


class TestMaxBody:
    @pytest.fixture
    def app_config(self, tmp_path):
        return {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret-key",
            "MAX_CONTENT_LENGTH": 1000,
        }

    def test_body_over_max_content_length_is_413_json(self, client, admin_headers):
        body = json.dumps({"name": "x" * 2000})
        response = _send(client, admin_headers, "POST", "/api/v1/customers", body)
        assert response.status_code == 413
        answer = response.get_json()
        assert answer["code"] == 413 and "errors" in answer
