"""The conversation archive through HTTP and the job runner: ingestion, encryption at rest, row
scope, audit of every read, the customer timeline, the pull job's cursors, erasure."""

from __future__ import annotations

import pytest

from crm_core import hookimpl
from crm_core.testing import run_cli


@pytest.fixture
def setup(app, client, make_user):
    """Two sales reps of one department, their customers, a manager, readonly, and an admin."""
    from crm_core.directory.departments import create_department

    dept = create_department("south")
    admin_user, admin = make_user("conv_admin")
    rep1_user, rep1 = make_user("rep1", roles=("sales",), department_id=dept.id)
    rep2_user, rep2 = make_user("rep2", roles=("sales",), department_id=dept.id)
    _, manager = make_user("boss", roles=("manager",), department_id=dept.id)
    _, readonly = make_user("viewer", roles=("readonly",), department_id=dept.id)
    c1 = client.post("/api/v1/customers", json={"name": "李雷", "phone": "13800138000"}, headers=rep1).json
    c2 = client.post(
        "/api/v1/customers", json={"name": "韩梅梅", "email": "mm@example.com"}, headers=rep2
    ).json
    return {
        "admin": admin,
        "rep1": rep1,
        "rep2": rep2,
        "manager": manager,
        "readonly": readonly,
        "c1": c1,
        "c2": c2,
        "rep1_user": rep1_user,
        "rep2_user": rep2_user,
    }


def message(i, conversation="chat-1", **extra):
    return {
        "external_id": f"m{i}",
        "conversation": conversation,
        "sent_at": f"2026-03-01T10:{i:02d}:00+08:00",
        "sender": {"kind": "customer", "external_id": "wm-li"},
        "type": "text",
        "content": f"secret message {i}: 我的身份证号",
        **extra,
    }


def ingest(client, headers, messages, source="webchat-main", channel="webchat"):
    return client.post(
        "/api/v1/conversations/messages",
        json={"source": source, "channel": channel, "messages": messages},
        headers=headers,
    )


def audit_reads(conversation_id):
    from crm_core.audit import AuditEntry

    return list(
        AuditEntry.select().where(
            AuditEntry.resource == "conversations",
            AuditEntry.action == "read",
            AuditEntry.record_id == str(conversation_id),
        )
    )


def test_ingest_round_trip_idempotent_and_encrypted(client, setup, db):
    s = setup
    batch = [message(1, customer_id=s["c1"]["id"]), message(2)]
    r = ingest(client, s["admin"], batch)
    assert r.status_code == 200, r.json
    assert r.json["created"] == 2 and r.json["skipped"] == 0
    (conv_id,) = r.json["conversations"]
    again = ingest(client, s["admin"], [*batch, message(3)])
    assert again.status_code == 200
    assert (again.json["created"], again.json["skipped"]) == (1, 2)

    listed = client.get(f"/api/v1/conversations?customer_id={s['c1']['id']}", headers=s["admin"])
    assert listed.status_code == 200
    (conv,) = listed.json
    assert conv["id"] == conv_id and conv["channel"] == "webchat" and conv["message_count"] == 3
    assert conv["owner_id"] == s["rep1_user"].id
    assert conv["last_message_at"] == "2026-03-01T02:03:00Z"
    assert "content" not in conv

    r = client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["admin"])
    assert r.status_code == 200
    assert [m["content"] for m in r.json] == [f"secret message {i}: 我的身份证号" for i in (1, 2, 3)]
    assert all(m["erased"] is False for m in r.json)
    assert r.json[0]["sender"] == {"kind": "customer", "id": s["c1"]["id"], "external_id": "wm-li"}

    # at rest: only envelope tokens bound to the customer's key, no plaintext anywhere in the row
    rows = db.execute_sql("SELECT content, subject FROM conversation_message ORDER BY id").fetchall()
    assert len(rows) == 3
    for content, subject in rows:
        assert content.startswith("crm1s.") and "secret" not in content
        assert subject == f"customers/{s['c1']['id']}"
    everything = " ".join(str(v) for row in db.execute_sql("SELECT * FROM conversation_message") for v in row)
    assert "secret message" not in everything and "身份证" not in everything


def test_the_sender_learnt_maps_later_messages(client, setup):
    s = setup
    ingest(client, s["admin"], [message(1, conversation="a", customer_id=s["c1"]["id"])])
    r = ingest(client, s["admin"], [message(2, conversation="b")])
    conv = client.get(f"/api/v1/conversations/{r.json['conversations'][0]}", headers=s["admin"]).json
    assert conv["customer_id"] == s["c1"]["id"]
    # by e-mail, normalised as customers store it
    by_mail = message(3, conversation="c", sender={"kind": "customer", "email": "MM@Example.com"})
    r = ingest(client, s["admin"], [by_mail])
    conv = client.get(f"/api/v1/conversations/{r.json['conversations'][0]}", headers=s["admin"]).json
    assert conv["customer_id"] == s["c2"]["id"] and conv["owner_id"] == s["rep2_user"].id
    # by phone, in another notation
    by_phone = message(4, conversation="d", sender={"kind": "customer", "phone": "+86 138 0013 8000"})
    r = ingest(client, s["admin"], [by_phone])
    conv = client.get(f"/api/v1/conversations/{r.json['conversations'][0]}", headers=s["admin"]).json
    assert conv["customer_id"] == s["c1"]["id"]


def test_bad_input_is_422_per_field(client, setup):
    s = setup
    bad = {
        "external_id": "",
        "conversation": "x",
        "sent_at": "yesterday",
        "sender": {"kind": "robot"},
        "type": "Text Message",
    }
    r = ingest(client, s["admin"], [message(1), bad], source="Bad Source!", channel="fax")
    assert r.status_code == 422
    errors = r.json["errors"]
    assert set(errors) == {"source", "channel", "messages"}
    assert set(errors["messages"]) == {"1"}  # the good message has nothing to say
    assert set(errors["messages"]["1"]) == {"external_id", "sent_at", "sender", "type"}
    assert set(errors["messages"]["1"]["sender"]) == {"kind"}
    # in the reader's language
    zh = client.post(
        "/api/v1/conversations/messages",
        json={"source": "Bad Source!", "channel": "webchat", "messages": [message(1)]},
        headers={**s["admin"], "Accept-Language": "zh-CN"},
    )
    assert zh.status_code == 422 and zh.json["errors"]["source"] == [
        "请使用小写字母、数字、点、下划线和连字符，最多 64 个字符。"
    ]
    r = ingest(client, s["admin"], [])
    assert r.status_code == 422
    # a customer the writer cannot read is named per field, and nothing of the batch is kept
    r = ingest(client, s["admin"], [message(1), message(2, customer_id=999999)])
    assert r.status_code == 422
    assert "customer_id" in r.json["errors"]["messages"]["1"]
    zh = ingest(client, {**s["admin"], "Accept-Language": "zh-CN"}, [message(2, customer_id=999999)])
    assert zh.json["errors"]["messages"]["0"]["customer_id"] == ["没有您可查看的客户记录 999999。"]
    assert client.get("/api/v1/conversations", headers=s["admin"]).json == []


def test_ingest_needs_create(client, setup):
    s = setup
    assert ingest(client, s["rep1"], [message(1, customer_id=s["c1"]["id"])]).status_code == 403


def test_row_scope_and_grants(client, setup):
    s = setup
    r = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])])
    conv_id = r.json["conversations"][0]
    url = f"/api/v1/conversations/{conv_id}/messages"
    # the owner's rep reads; the colleague of the same department cannot (404: not revealed)
    assert client.get(url, headers=s["rep1"]).status_code == 200
    assert client.get(url, headers=s["rep2"]).status_code == 404
    assert client.get("/api/v1/conversations", headers=s["rep2"]).json == []
    assert client.get(url, headers=s["manager"]).status_code == 200
    # readonly reads every business record, but has no grant on conversations
    assert client.get(url, headers=s["readonly"]).status_code == 403
    assert client.get("/api/v1/conversations", headers=s["readonly"]).status_code == 403
    assert client.get("/api/v1/conversations/999999/messages", headers=s["readonly"]).status_code == 403
    assert client.get("/api/v1/conversations/999999/messages", headers=s["rep1"]).status_code == 404


def test_reassigning_the_customer_moves_the_conversation(client, setup):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])]).json["conversations"][0]
    url = f"/api/v1/conversations/{conv_id}/messages"
    r = client.patch(
        f"/api/v1/customers/{s['c1']['id']}", json={"owner_id": s["rep2_user"].id}, headers=s["admin"]
    )
    assert r.status_code == 200, r.json
    assert client.get(url, headers=s["rep2"]).status_code == 200
    assert client.get(url, headers=s["rep1"]).status_code == 404


def test_every_read_is_audited_once_per_request(client, setup):
    s = setup
    conv_id = ingest(client, s["admin"], [message(i, customer_id=s["c1"]["id"]) for i in range(1, 6)]).json[
        "conversations"
    ][0]
    assert audit_reads(conv_id) == []
    client.get("/api/v1/conversations", headers=s["rep1"])  # a listing shows no content
    client.get(f"/api/v1/conversations/{conv_id}", headers=s["rep1"])
    assert audit_reads(conv_id) == []
    r = client.get(f"/api/v1/conversations/{conv_id}/messages?page_size=3", headers=s["rep1"])
    assert len(r.json) == 3
    (entry,) = audit_reads(conv_id)
    assert entry.actor_id == s["rep1_user"].id and entry.owner_id == s["rep1_user"].id
    assert '"messages":3' in entry.after.replace(" ", "")
    client.get(f"/api/v1/conversations/{conv_id}/messages?page=2&page_size=3", headers=s["rep1"])
    assert len(audit_reads(conv_id)) == 2
    # a refused read reads nothing and is not a read entry
    client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["rep2"])
    assert len(audit_reads(conv_id)) == 2


def test_timeline_shows_conversations_to_readers_only(client, setup):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"]), message(2)]).json[
        "conversations"
    ][0]
    url = f"/api/v1/customers/{s['c1']['id']}/timeline"
    items = [i for i in client.get(url, headers=s["rep1"]).json if i["object"] == "conversations"]
    assert len(items) == 1
    (item,) = items
    assert item["object_id"] == conv_id and item["type"] == "conversation.webchat"
    assert item["data"]["messages"] == 2
    assert item["data"]["messages_url"] == f"/api/v1/conversations/{conv_id}/messages"
    assert "secret" not in str(item)
    # readonly reads the customer but not conversations: the timeline has none
    seen = client.get(url, headers=s["readonly"])
    assert seen.status_code == 200
    assert [i for i in seen.json if i["object"] == "conversations"] == []
    # showing the timeline reads no content, so audits no read
    assert audit_reads(conv_id) == []


def test_customer_360_lists_conversations_for_readers(client, setup, app):
    s = setup
    ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])])
    from crm_core.auth import actor_for_user
    from crm_core.entities.models import Customer
    from crm_core.web.customer360 import customer_context

    customer = Customer.get_by_id(s["c1"]["id"])
    rep1 = customer_context(customer, actor_for_user(s["rep1_user"]), {})["timeline"]
    assert [i["type"] for i in rep1 if i["object"] == "conversations"] == ["conversation.webchat"]
    rep2 = customer_context(customer, actor_for_user(s["rep2_user"]), {})["timeline"]
    assert [i for i in rep2 if i["object"] == "conversations"] == []


def test_erased_customer_reads_as_erased(client, setup):
    s = setup
    from crm_core.crypto import keyring

    early = ingest(client, s["admin"], [message(1, conversation="z")]).json  # before mapping: unbound
    conv_id = ingest(client, s["admin"], [message(2, conversation="z", customer_id=s["c1"]["id"])]).json[
        "conversations"
    ][0]
    assert early["conversations"] == [conv_id]
    r = client.post(f"/api/v1/customers/{s['c1']['id']}/erase", headers=s["admin"])
    assert r.status_code == 200, r.json
    # the erasure shredded the customer's key: it is gone, and nothing is left to shred
    assert keyring.shred(f"customers/{s['c1']['id']}") is False
    r = client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["admin"])
    assert r.status_code == 200
    assert [(m["content"], m["erased"]) for m in r.json] == [(None, True), (None, True)]
    (entry,) = audit_reads(conv_id)
    assert '"erased":2' in entry.after.replace(" ", "")
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=s["admin"]).json
    assert conv["participants"] == []
    from crm_core.conversations.models import Message

    # the message stored before the mapping was bound to no key: the erasure blanked it
    assert [m.content is None for m in Message.select().order_by(Message.id)] == [True, False]


def test_tampered_content_reads_as_unreadable(client, setup, db):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1), message(2)]).json["conversations"][0]
    first, second = db.execute_sql("SELECT id, content FROM conversation_message ORDER BY id").fetchall()
    # a token moved to another message does not open there
    p = db.param
    db.execute_sql(f"UPDATE conversation_message SET content = {p} WHERE id = {p}", (second[1], first[0]))
    r = client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["admin"])
    assert r.json[0]["content"] is None and r.json[0]["unreadable"] is True and r.json[0]["erased"] is False
    assert r.json[1]["content"] == "secret message 2: 我的身份证号"


class Archive:
    """A plugin with two sources: one that serves messages after a numeric cursor, one broken."""

    def __init__(self, messages):
        self.messages = messages
        self.calls = []

    def fetch(self, cursor, limit):
        self.calls.append(cursor)
        start = int(cursor or 0)
        batch = self.messages[start : start + limit]
        return batch, str(start + len(batch))

    @staticmethod
    def broken(cursor, limit):
        raise ConnectionError("archive offline")

    @hookimpl
    def crm_conversation_sources(self):
        return [
            {"name": "phone-log", "channel": "phone", "fetch": self.fetch},
            {"name": "broken", "channel": "dingtalk", "fetch": self.broken},
        ]


def test_pull_job_advances_cursors_and_keeps_a_failing_sources(register_plugin, make_user):
    import datetime as dt

    archive = Archive(
        [
            {
                "external_id": f"call-{i}",
                "conversation": f"line-{i % 2}",
                "sent_at": dt.datetime(2026, 3, 1, 9, i),
                "sender": {"kind": "user", "external_id": "agent-7"},
                "type": "voice",
                "content": f"call note {i}",
                "attachments": [{"name": f"call-{i}.mp3", "size": 1000 + i}],
            }
            for i in range(5)
        ]
    )
    app = register_plugin(archive, "archive")
    with app.app_context():
        from crm_core.conversations.models import Message, SourceCursor

        result = run_cli(app, "jobs", "run", "core.conversations:pull")
        assert result.exit_code == 0, result.output
        assert "phone-log" in result.output and "archive offline" in result.output
        assert Message.select().where(Message.source == "phone-log").count() == 5
        cursors = {row.source: row for row in SourceCursor.select()}
        assert cursors["phone-log"].cursor == "5" and cursors["phone-log"].messages == 5
        assert cursors["broken"].cursor is None and "archive offline" in cursors["broken"].last_error
        # the next run starts at the cursor and stores nothing twice
        archive.messages.append({**archive.messages[0], "external_id": "call-5", "content": "late"})
        assert run_cli(app, "jobs", "run", "core.conversations:pull").exit_code == 0
        assert archive.calls[-1] == "5"
        assert Message.select().where(Message.source == "phone-log").count() == 6
        listing = run_cli(app, "conversations", "sources")
        assert "phone-log\tcursor=6\tmessages=6" in listing.output
        assert "ERROR: ConnectionError: archive offline" in listing.output
        _, admin = make_user("puller")
        client = app.test_client()
        convs = client.get("/api/v1/conversations?source=phone-log", headers=admin).json
        assert sorted(c["message_count"] for c in convs) == [2, 4]  # call-5 is on line-0
        messages = client.get(f"/api/v1/conversations/{convs[0]['id']}/messages", headers=admin).json
        assert messages[0]["attachments"][0]["name"].endswith(".mp3")


def test_a_batch_that_fails_to_store_keeps_the_cursor(register_plugin):
    class Bad:
        @hookimpl
        def crm_conversation_sources(self):
            return [
                {"name": "bad", "channel": "webchat", "fetch": lambda cursor, limit: ([{"oops": 1}], "9")}
            ]

    app = register_plugin(Bad(), "bad_archive")
    with app.app_context():
        from crm_core.conversations.models import SourceCursor

        result = run_cli(app, "jobs", "run", "core.conversations:pull")
        assert result.exit_code == 1  # every source failed: the run fails
        row = SourceCursor.get(SourceCursor.source == "bad")
        assert row.cursor is None and "external_id" in row.last_error


def test_retention_policy_is_declared_and_purges(client, setup, app):
    import datetime as dt

    s = setup
    ingest(client, s["admin"], [message(1, conversation="old"), message(2, conversation="new")])
    policies = [
        (plugin, p)
        for plugin, items in app.extensions["crm"].plugins.calls("crm_retention_policies")
        for p in items
        if p["name"] == "conversations"
    ]
    ((plugin, policy),) = policies
    assert plugin == "core.conversations" and policy["default_days"] == 3 * 365
    assert app.config[policy["setting"]] == 3 * 365
    from crm_core.conversations.models import Conversation, Message

    Message.update(sent_at=dt.datetime(2020, 1, 1)).where(Message.external_id == "m1").execute()
    status = run_cli(app, "retention", "status", "--at", "2026-03-02T00:00:00")
    assert status.exit_code == 0 and "conversations" in status.output and "ERROR" not in status.output
    result = run_cli(app, "retention", "run", "--policy", "conversations", "--at", "2026-03-02T00:00:00")
    assert result.exit_code == 0, result.output
    assert [c.external_id for c in Conversation.select()] == ["new"]
    assert policy["purge"](dt.datetime(2027, 1, 1)) == 1
    assert Conversation.select().count() == 0


def test_wecom_is_a_source_only_when_configured(app):
    from crm_core.conversations.pull import sources

    assert "wecom" not in sources()
    assert "core.conversations" in app.extensions["crm"].plugins.plugin_names()


def test_identities_map_stored_conversations(client, setup):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1, conversation="q")]).json["conversations"][0]
    body = {"source": "webchat-main", "external_id": "wm-li", "customer_id": s["c2"]["id"]}
    r = client.post("/api/v1/conversations/identities", json=body, headers=s["admin"])
    assert r.status_code == 200 and r.json["conversations"] == [conv_id]
    assert client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["rep2"]).status_code == 200
    r = client.post(
        "/api/v1/conversations/identities", json={**body, "customer_id": 424242}, headers=s["admin"]
    )
    assert r.status_code == 422 and "customer_id" in r.json["errors"]
    r = client.post("/api/v1/conversations/identities", json={"source": "x"}, headers=s["admin"])
    assert r.status_code == 422
    assert client.post("/api/v1/conversations/identities", json=body, headers=s["rep1"]).status_code == 403


def test_workbench_page_reads_the_conversation_and_audits(app, client, setup):
    from crm_core.browser_testing import web_login

    s = setup
    conv_id = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])]).json["conversations"][0]
    web = app.test_client()
    assert web_login(web, "rep1").status_code == 302
    page = web.get(f"/records/customers/{s['c1']['id']}").get_data(as_text=True)
    assert f"/conversations/{conv_id}" in page and "secret message" not in page
    assert audit_reads(conv_id) == []
    reading = web.get(f"/conversations/{conv_id}")
    assert reading.status_code == 200
    assert "secret message 1: 我的身份证号" in reading.get_data(as_text=True)
    (entry,) = audit_reads(conv_id)
    assert '"via":"web"' in entry.after.replace(" ", "")
    other = app.test_client()
    assert web_login(other, "rep2").status_code == 302
    assert f"/conversations/{conv_id}" not in other.get(f"/records/customers/{s['c1']['id']}").get_data(
        as_text=True
    )
    assert other.get(f"/conversations/{conv_id}").status_code == 404
    assert len(audit_reads(conv_id)) == 1


def test_privacy_export_has_the_conversations_for_readers(client, setup):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])]).json["conversations"][0]
    doc = client.get(f"/api/v1/customers/{s['c1']['id']}/privacy-export", headers=s["admin"]).json
    (conv,) = doc["plugins"]["core.conversations"]["conversations"]
    assert conv["id"] == conv_id and conv["messages"][0]["content"] == "secret message 1: 我的身份证号"
    (entry,) = audit_reads(conv_id)
    assert '"via":"privacy-export"' in entry.after.replace(" ", "")


def test_concurrent_batches_store_each_message_once(app, setup):
    import threading

    s = setup
    batch = [message(i, conversation="busy", customer_id=s["c1"]["id"]) for i in range(1, 21)]
    answers = []

    def post():
        answers.append(ingest(app.test_client(), s["admin"], batch))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [200, 200, 200], [r.json for r in answers]
    assert sum(r.json["created"] for r in answers) == 20
    assert sum(r.json["skipped"] for r in answers) == 40
    from crm_core.conversations.models import Conversation, Message

    assert Message.select().count() == 20
    (conv,) = Conversation.select()
    assert conv.message_count == 20


def test_a_field_rule_hides_message_content(client, setup, make_user):
    s = setup
    conv_id = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"])]).json["conversations"][0]
    body = {
        "name": "chat_supervisor",
        "grants": [{"resource": "conversations", "action": "read", "scope": "all"}],
        "field_rules": [{"resource": "conversations", "field": "content", "rule": "hidden"}],
    }
    assert client.post("/api/v1/roles", json=body, headers=s["admin"]).status_code == 201
    _, supervisor = make_user("supervisor", roles=("chat_supervisor",))
    (item,) = client.get(f"/api/v1/conversations/{conv_id}/messages", headers=supervisor).json
    assert "content" not in item and item["sender"]["kind"] == "customer"


def test_key_rotation_reaches_the_archive(app, client, setup):
    from crm_core import crypto
    from crm_core.conversations.models import Message
    from crm_core.crypto import rotation
    from crm_core.testing import run_cli

    s = setup
    r = ingest(client, s["admin"], [message(1, customer_id=s["c1"]["id"]), message(2)])
    (conv_id,) = r.json["conversations"]
    assert run_cli(app, "keys", "rotate").exit_code == 0
    assert rotation.usage()["k1"]["conversations.messages"] == 2
    done = rotation.reencrypt()
    assert done.rewritten == 2, done
    assert {crypto.key_id_of(m.content) for m in Message.select()} == {"k2"}
    r = client.get(f"/api/v1/conversations/{conv_id}/messages", headers=s["admin"])
    assert [m["content"] for m in r.json] == [f"secret message {i}: 我的身份证号" for i in (1, 2)]
