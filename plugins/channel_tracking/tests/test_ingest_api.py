"""Ingestion over HTTP: batches with valid and invalid events, write-only keys, limits, CORS,
classification and identity stitching (SQLite and PostgreSQL)."""

import datetime as dt
import json

import pytest
from channel_testlib import api

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(delta=dt.timedelta(0)):
    return (NOW + delta).isoformat().replace("+00:00", "Z")


def sessions(client, headers, visitor):
    r = api(client, headers, "GET", f"/visitors/{visitor}/sessions")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_batch_stores_valid_events_and_rejects_invalid_ones_with_reasons(client, admin_headers, track):
    events = [
        {
            "visitor_id": "v1",
            "event_type": "page_view",
            "referrer": "https://www.baidu.com/s?wd=x",
            "timestamp": iso(-dt.timedelta(minutes=5)),
        },
        {"event_type": "page_view"},  # no visitor
        {"visitor_id": "v1", "event_type": "Bad Type!", "timestamp": "yesterday", "colour": "red"},
        "not an object",
        {"visitor_id": "v1", "event_type": "click", "timestamp": iso(dt.timedelta(days=3))},  # future
        {
            "visitor_id": "v1",
            "event_type": "follow",
            "utm_source": "douyin",
            "utm_medium": "kol",
            "gclid": "GCL-123",
            "click_ids": {"xhs_clid": "X1"},
            "timestamp": int(NOW.timestamp() * 1000),
        },
    ]
    r = track(events)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["accepted"] == 2
    rejected = {item["index"]: item["errors"] for item in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert rejected[1] == {"visitor_id": ["Missing data for required field."]}
    assert set(rejected[2]) == {"event_type", "timestamp", "colour"}
    assert "_schema" in rejected[3]
    assert rejected[4] == {"timestamp": ["More than 24 hours in the future."]}
    got = sessions(client, admin_headers, "v1")
    # 5 minutes apart: one session, channel from its first touch (Baidu: organic search)
    assert [(s["channel"], s["touches"]) for s in got] == [("organic_search", 2)]


def test_single_event(client, ingest_key, admin_headers):
    headers = {"X-Tracking-Key": ingest_key}
    ok = client.post(
        "/api/v1/track",
        json={
            "visitor_id": "v2",
            "event_type": "live_view",
            "url": "https://shop.example.com/?utm_source=douyin&utm_medium=live&ttclid=T9",
        },
        headers=headers,
    )
    assert ok.status_code == 202, ok.get_json()
    assert ok.get_json() == {"accepted": 1, "rejected": []}
    assert sessions(client, admin_headers, "v2")[0]["channel"] == "live_stream"
    bad = client.post(
        "/api/v1/track", json={"visitor_id": "v2", "customer_id": -4, "event_type": "x"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == {"customer_id": ["Not a valid positive integer."]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"events": "nope"}', 422),
        (b"[]", 422),
    ],
)
def test_malformed_batches(client, ingest_key, body, status):
    r = client.post(
        "/api/v1/track/batch",
        data=body,
        content_type="application/json",
        headers={"X-Tracking-Key": ingest_key},
    )
    assert r.status_code == status
    assert r.get_json()["code"] == status


def test_batch_limit_is_1000(track):
    events = [{"visitor_id": "v", "event_type": "page_view"}] * 1001
    r = track(events)
    assert r.status_code == 413
    assert track(events[:1000]).get_json()["accepted"] == 1000


def test_batch_with_only_invalid_events_is_422(track):
    r = track([{"visitor_id": "v"}, {"event_type": "page_view"}])
    assert r.status_code == 422
    assert [item["index"] for item in r.get_json()["rejected"]] == [0, 1]


def test_ingestion_key_can_send_but_never_read(client, ingest_key, admin_headers):
    key_header = {"X-Tracking-Key": ingest_key}
    assert (
        client.post(
            "/api/v1/track", json={"visitor_id": "v", "event_type": "page_view"}, headers=key_header
        ).status_code
        == 202
    )
    for path in (
        "/api/v1/channel-tracking/reports/channel?date_from=2026-01-01&date_to=2026-12-31",
        "/api/v1/channel-tracking/visitors/v/sessions",
        "/api/v1/channel-tracking/keys",
        "/api/v1/channel-tracking/conversions",
        "/api/v1/customers",
        "/api/v1/plugins",
    ):
        assert client.get(path, headers=key_header).status_code == 401, path
        assert client.get(f"{path}{'&' if '?' in path else '?'}key={ingest_key}").status_code == 401, path
        # nor is it a bearer token
        assert client.get(path, headers={"Authorization": f"Bearer {ingest_key}"}).status_code == 401, path


def test_missing_wrong_and_revoked_keys(client, admin_headers, ingest_key):
    event = {"visitor_id": "v", "event_type": "page_view"}
    assert client.post("/api/v1/track", json=event).status_code == 401
    assert (
        client.post("/api/v1/track", json=event, headers={"X-Tracking-Key": "ctk_wrong"}).status_code == 401
    )
    # a beacon can send the key as a query parameter
    assert client.post(f"/api/v1/track?key={ingest_key}", json=event).status_code == 202
    keys = api(client, admin_headers, "GET", "/keys").get_json()
    assert len(keys) == 1 and keys[0]["prefix"] == ingest_key[:10] and "key" not in keys[0]
    assert api(client, admin_headers, "DELETE", f"/keys/{keys[0]['id']}").status_code == 204
    assert client.post("/api/v1/track", json=event, headers={"X-Tracking-Key": ingest_key}).status_code == 401
    assert api(client, admin_headers, "GET", "/keys").get_json() == []
    # creation and deletion went through the core's write path: audited, never with the hash
    audit = client.get("/api/v1/audit?resource=channel_tracking.keys", headers=admin_headers)
    assert audit.status_code == 200, audit.get_json()
    entries = [e for e in audit.get_json() if e["resource"] == "channel_tracking.keys"]
    assert sorted(e["action"] for e in entries) == ["create", "delete"]
    assert all(
        "key_hash" not in (e["after"] or {}) and "key_hash" not in (e["before"] or {}) for e in entries
    )


def test_rate_limited_per_key(client, ingest_key, app, monkeypatch):
    monkeypatch.setitem(app.config, "CHANNEL_TRACKING_RATE_LIMIT", "3/minute")
    event = {"visitor_id": "v", "event_type": "page_view"}
    codes = [
        client.post("/api/v1/track", json=event, headers={"X-Tracking-Key": ingest_key}).status_code
        for _ in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    r = client.post("/api/v1/track", json=event, headers={"X-Tracking-Key": ingest_key})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_cors(client, ingest_key):
    pre = client.options(
        "/api/v1/track/batch",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-tracking-key",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "X-Tracking-Key" in pre.headers["Access-Control-Allow-Headers"]
    other = client.post(
        "/api/v1/track",
        json={"visitor_id": "v", "event_type": "page_view"},
        headers={"Origin": "https://evil.example", "X-Tracking-Key": ingest_key},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_identity_stitching_on_signup(client, admin_headers, track):
    earlier = [
        {
            "visitor_id": "anon-1",
            "event_type": "page_view",
            "utm_source": "douyin",
            "utm_medium": "kol",
            "timestamp": iso(-dt.timedelta(days=3)),
        },
        {"visitor_id": "anon-1", "event_type": "page_view", "timestamp": iso(-dt.timedelta(days=1))},
    ]
    assert track(earlier).get_json()["accepted"] == 2
    assert (
        track(
            [
                {
                    "visitor_id": "anon-1",
                    "customer_id": 42,
                    "event_type": "signup",
                    "timestamp": iso(-dt.timedelta(hours=1)),
                }
            ]
        ).get_json()["accepted"]
        == 1
    )
    # later events of the visitor without a customer id still belong to the customer
    assert track([{"visitor_id": "anon-1", "event_type": "page_view"}]).get_json()["accepted"] == 1
    r = api(
        client,
        admin_headers,
        "POST",
        "/conversions",
        json={"order_id": "A-1", "customer_id": 42, "revenue": "300.00"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["model"] == "last_non_direct"
    # three sessions (3 days, 1 day, 1 hour ago) plus the current one; the KOL touch earns the credit
    credited = [c for c in body["credits"] if c["credit"] > 0]
    assert [(c["channel_group"], c["credit"]) for c in credited] == [("kol", 1.0)]
    assert sum(c["credit"] for c in body["credits"]) == pytest.approx(1.0)


def test_awkward_text_round_trips(client, admin_headers, track):
    awkward = 'a,b "quoted"\nnew line\t\\ 观看-加粉-下单'
    r = track(
        [
            {
                "visitor_id": "w1",
                "event_type": "page_view",
                "referrer": "https://blog.other.net/?q=" + awkward,
                "url": "https://shop.example.com/" + awkward,
                "utm_content": awkward,
                "click_ids": {"x,y": awkward},
            },
            {"visitor_id": "w1", "event_type": "page_view", "utm_term": "nul\x00byte"},
            {"visitor_id": "w1", "event_type": "page_view", "click_ids": {"k\x00": "v"}},
        ]
    )
    body = r.get_json()
    assert body["accepted"] == 1, body
    assert [item["index"] for item in body["rejected"]] == [1, 2]
    assert body["rejected"][0]["errors"] == {"utm_term": ["Must not contain NUL characters."]}
    from crm_channel_tracking.models import Touchpoint

    row = Touchpoint.get(Touchpoint.visitor_id == "w1")
    assert row.url == "https://shop.example.com/" + awkward and row.utm_content == awkward
    assert json.loads(row.click_ids) == {"x,y": awkward}
    assert row.channel_group == "referral"


@pytest.mark.parametrize(
    ("language", "expected"),
    [(None, "Invalid or revoked ingestion key."), ("zh-CN", "采集密钥无效或已被吊销。")],
)
def test_ingestion_refusals_speak_the_callers_language(client, language, expected):
    headers = {"X-Tracking-Key": "ctk_wrong"} | ({"Accept-Language": language} if language else {})
    r = client.post("/api/v1/track", json={"visitor_id": "v", "event_type": "page_view"}, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["message"] == expected


def test_batch_limit_message_is_translated_with_its_numbers(track, client, ingest_key):
    events = [{"visitor_id": "v", "event_type": "page_view"}] * 1001
    r = client.post(
        "/api/v1/track/batch",
        json={"events": events},
        headers={"X-Tracking-Key": ingest_key, "Accept-Language": "zh-CN"},
    )
    assert r.status_code in (400, 413, 422), r.get_json()
    assert "每批最多 1000 个事件" in str(r.get_json()), r.get_json()
