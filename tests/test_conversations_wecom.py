"""The WeCom chat archive adapter against a local fake archive: access token, pull by seq, each
message's own key opened with the enterprise's RSA private key, cursors, failures."""

from __future__ import annotations

import pytest
from fake_wecom import FakeWeCom, new_rsa_key

from crm_core.testing import run_cli

CORP, SECRET = "ww-test-corp", "archive-secret"


def text(msgid, sender, to, content, ms, room=""):
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": [to],
        "roomid": room,
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": content},
    }


@pytest.fixture
def keys(tmp_path):
    return new_rsa_key(tmp_path / "v1.pem"), new_rsa_key(tmp_path / "v2.pem")


@pytest.fixture
def fake(keys):
    with FakeWeCom(CORP, SECRET, {1: keys[0].public_key(), 2: keys[1].public_key()}) as server:
        yield server


@pytest.fixture
def app_config(tmp_path, fake):
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": True,
        "CORE_CONVERSATIONS_WECOM_CORP_ID": CORP,
        "CORE_CONVERSATIONS_WECOM_SECRET": SECRET,
        "CORE_CONVERSATIONS_WECOM_BASE_URL": fake.url,
        "CORE_CONVERSATIONS_WECOM_PRIVATE_KEY_FILE": f"1={tmp_path / 'v1.pem'}",
    }


def pull(app):
    return run_cli(app, "jobs", "run", "core.conversations:pull")


def cursor():
    from crm_core.conversations.models import SourceCursor

    return SourceCursor.get_or_none(SourceCursor.source == "wecom")


def test_wecom_round_trip(app, client, make_user, fake, db):
    _, admin = make_user("wecom_admin")
    customer = client.post("/api/v1/customers", json={"name": "王芳"}, headers=admin).json
    r = client.post(
        "/api/v1/conversations/identities",
        json={"source": "wecom", "external_id": "wmCustomer1", "customer_id": customer["id"]},
        headers=admin,
    )
    assert r.status_code == 200, r.json
    fake.add(text("msg-1", "wmCustomer1", "zhangsan", "你好，我想退款", 1772330400000))
    fake.add(text("msg-2", "zhangsan", "wmCustomer1", "好的，订单号？", 1772330460000))
    fake.add(
        {
            "msgid": "msg-3",
            "action": "send",
            "from": "wmCustomer1",
            "tolist": ["zhangsan"],
            "msgtime": 1772330520000,
            "msgtype": "image",
            "image": {"md5sum": "abc123", "filesize": 2048, "sdkfileid": "SDKFILE-1"},
        }
    )
    fake.add({"msgid": "msg-4", "action": "switch", "time": 1772330580000, "user": "zhangsan"})

    result = pull(app)
    assert result.exit_code == 0, result.output
    assert "'wecom': 3" in result.output
    assert cursor().cursor == "4"  # the switch notice is passed over, not stored
    # the fake saw the corp's credentials once and a token on every pull
    assert [path for path, _ in fake.requests].count("/cgi-bin/gettoken") == 1
    pulls = [q for path, q in fake.requests if path.endswith("getchatdata")]
    assert pulls[0]["seq"] == 0 and all(q["access_token"] in fake.tokens for q in pulls)

    (conv,) = client.get(f"/api/v1/conversations?customer_id={customer['id']}", headers=admin).json
    assert conv["channel"] == "wecom" and conv["external_id"] == "single:wmCustomer1|zhangsan"
    assert conv["message_count"] == 3 and conv["started_at"] == "2026-03-01T02:00:00Z"
    messages = client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=admin).json
    assert [m["content"] for m in messages] == ["你好，我想退款", "好的，订单号？", ""]
    assert messages[0]["sender"]["kind"] == "customer" and messages[1]["sender"]["kind"] == "user"
    assert messages[2]["type"] == "image"
    assert messages[2]["attachments"] == [{"media_id": "SDKFILE-1", "md5": "abc123", "size": 2048}]
    stored = " ".join(str(v) for row in db.execute_sql("SELECT * FROM conversation_message") for v in row)
    assert "退款" not in stored

    # the next pull starts after the cursor; a repeat of a message is skipped
    fake.add(text("msg-5", "wmCustomer1", "zhangsan", "谢谢", 1772330640000))
    fake.items.append({**fake.items[0], "seq": 6})
    assert pull(app).exit_code == 0
    assert [q["seq"] for path, q in fake.requests if path.endswith("getchatdata")][-1] == 4
    assert cursor().cursor == "6"
    conv = client.get(f"/api/v1/conversations/{conv['id']}", headers=admin).json
    assert conv["message_count"] == 4


def test_an_unknown_key_version_stops_the_pull_and_keeps_the_cursor(app, fake):
    fake.add(text("a", "wmX", "lisi", "one", 1772330400000))
    assert pull(app).exit_code == 0
    assert cursor().cursor == "1"
    fake.add(text("b", "wmX", "lisi", "two", 1772330460000), publickey_ver=2)
    result = pull(app)
    assert result.exit_code == 1
    assert cursor().cursor == "1" and "publickey_ver 2" in cursor().last_error


def test_wrong_secret_keeps_the_cursor(app, fake):
    fake.secret = "rotated"
    fake.add(text("a", "wmX", "lisi", "one", 1772330400000))
    assert pull(app).exit_code == 1
    row = cursor()
    assert row.cursor is None and "40001" in row.last_error and SECRET not in row.last_error


def test_a_group_chat_and_a_busy_archive(app, client, make_user, fake):
    _, admin = make_user("wecom_admin2")
    fake.add(text("g1", "wmA", "zhangsan", "hi all", 1772330400000, room="room-42"))
    fake.fail_next = 1
    assert pull(app).exit_code == 1
    assert cursor().cursor is None and "10001" in cursor().last_error
    assert pull(app).exit_code == 0
    (conv,) = client.get("/api/v1/conversations?source=wecom", headers=admin).json
    assert conv["external_id"] == "room-42" and conv["customer_id"] is None
    assert {p["external_id"] for p in conv["participants"]} == {"wmA", "zhangsan"}


def test_the_adapter_renews_an_expired_token_and_reads_oaep(keys, tmp_path):
    from crm_core.conversations.wecom import WeComArchive, load_private_keys

    with FakeWeCom(CORP, SECRET, {7: keys[1].public_key()}, padding_name="oaep") as server:
        server.add(text("x1", "wmZ", "wangwu", "oaep message", 1772330400000), publickey_ver=7)
        archive = WeComArchive(
            server.url, CORP, SECRET, load_private_keys(f"7={tmp_path / 'v2.pem'}"), "oaep"
        )
        messages, next_cursor = archive.fetch(None, 10)
        assert [m["content"] for m in messages] == ["oaep message"] and next_cursor == "1"
        server.expire_tokens()
        server.add(text("x2", "wmZ", "wangwu", "after expiry", 1772330460000), publickey_ver=7)
        messages, next_cursor = archive.fetch(next_cursor, 10)
        assert [m["content"] for m in messages] == ["after expiry"] and next_cursor == "2"
        assert [path for path, _ in server.requests].count("/cgi-bin/gettoken") == 2


def test_an_unreadable_key_file_fails_only_the_wecom_pull(app, fake, tmp_path):
    (tmp_path / "v1.pem").write_text("not a key")
    fake.add(text("a", "wmX", "lisi", "one", 1772330400000))
    assert pull(app).exit_code == 1
    row = cursor()
    assert row.cursor is None and "PRIVATE_KEY_FILE cannot be read" in row.last_error
