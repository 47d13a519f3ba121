"""Custom object types defined at runtime and their records, on SQLite and PostgreSQL: the same
list API, write path, permissions and events as core objects."""

from __future__ import annotations

from crm_core.auth.models import Role
from crm_core.permissions.models import FieldRule, Grant
from crm_core.testing import follow_task

OBJ = "/api/v1/objects"

COURSE = {
    "name": "course",
    "label": {"en": "Course", "zh-CN": "课程"},
    "description": "What a school teaches",
    "fields": [
        {"name": "level", "type": "int", "min": 1, "max": 9, "filterable": True, "required": True},
        {"name": "teacher", "type": "string"},
        {"name": "fee", "type": "decimal"},
    ],
}


def test_object_type_lifecycle(client, admin_headers):
    r = client.post(OBJ, json=COURSE, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["resource"] == "objects.course" and body["label"]["zh-CN"] == "课程"
    assert [f["name"] for f in body["fields"]] == ["level", "teacher", "fee"]
    assert client.post(OBJ, json=COURSE, headers=admin_headers).status_code == 409
    r = client.post(
        OBJ, json={"name": "bad", "fields": [{"name": "x", "type": "nope"}]}, headers=admin_headers
    )
    assert r.status_code == 422 and "fields.x.type" in r.get_json()["errors"]
    assert client.get(f"{OBJ}/bad/definition", headers=admin_headers).status_code == 404  # rolled back

    assert [t["name"] for t in client.get(OBJ, headers=admin_headers).get_json()] == ["course"]
    r = client.patch(f"{OBJ}/course/definition", json={"label": {"en": "Class"}}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["label"] == {"en": "Class", "zh-CN": "课程"}
    # fields of a custom object are managed like any entity's
    r = client.post(
        "/api/v1/fields/objects.course", json={"name": "room", "type": "string"}, headers=admin_headers
    )
    assert r.status_code == 201

    rec = client.post(f"{OBJ}/course", json={"name": "Math", "custom": {"level": 3}}, headers=admin_headers)
    assert client.delete(f"{OBJ}/course/definition", headers=admin_headers).status_code == 409
    client.delete(f"{OBJ}/course/{rec.get_json()['id']}", headers=admin_headers)
    assert client.delete(f"{OBJ}/course/definition", headers=admin_headers).status_code == 204
    assert client.get(f"{OBJ}/course", headers=admin_headers).status_code == 404
    assert client.get("/api/v1/fields/objects.course", headers=admin_headers).status_code == 404


def test_records_behave_like_core_objects(client, admin_headers, db):
    client.post(OBJ, json=COURSE, headers=admin_headers)
    client.post(
        OBJ, json={"name": "room", "fields": [{"name": "level", "type": "int"}]}, headers=admin_headers
    )
    client.post(f"{OBJ}/room", json={"name": "R1", "custom": {"level": 5}}, headers=admin_headers)

    made = {}
    for name, level, fee in (("Math", 3, "120.00"), ("Art", 1, "80.5"), ("Physics", 7, "200")):
        r = client.post(
            f"{OBJ}/course",
            json={"name": name, "custom": {"level": level, "fee": fee}},
            headers=admin_headers,
        )
        assert r.status_code == 201, r.get_json()
        assert r.headers["Location"].endswith(f"/objects/course/{r.get_json()['id']}")
        made[name] = r.get_json()
    assert made["Math"]["type"] == "course" and made["Math"]["custom"] == {"level": 3, "fee": "120.00"}

    r = client.post(f"{OBJ}/course", json={"name": "x", "custom": {"level": 10}}, headers=admin_headers)
    assert r.status_code == 422 and "custom.level" in r.get_json()["errors"]
    r = client.post(f"{OBJ}/course", json={"name": "x"}, headers=admin_headers)  # level is required
    assert r.status_code == 422
    r = client.post(f"{OBJ}/course", json={"name": "x", "colour": "red"}, headers=admin_headers)
    assert r.status_code == 422

    def names(query=""):
        r = client.get(f"{OBJ}/course?{query}", headers=admin_headers)
        assert r.status_code == 200, r.get_json()
        return [c["name"] for c in r.get_json()]

    assert names("sort=name") == ["Art", "Math", "Physics"]  # the room record stays out
    assert names("level__gte=3&sort=-level") == ["Physics", "Math"]
    assert names("fee__lt=150&sort=fee") == ["Art", "Math"]
    assert names("q=phy") == ["Physics"]
    assert names("q=course") == []  # the type column is not searched
    client.patch(
        f"{OBJ}/course/{made['Art']['id']}", json={"custom": {"teacher": "Wang Fang"}}, headers=admin_headers
    )
    assert names("q=wang") == ["Art"]  # text custom fields are
    r = client.get(f"{OBJ}/course?page_size=2", headers=admin_headers)
    assert len(r.get_json()) == 2 and '"total": 3' in r.headers["X-Pagination"]
    assert client.get(f"{OBJ}/course?nope=1", headers=admin_headers).status_code == 400

    rid = made["Math"]["id"]
    r = client.get(f"{OBJ}/course/{rid}", headers=admin_headers)
    etag = r.headers["ETag"]
    r = client.patch(f"{OBJ}/course/{rid}", json={"custom": {"teacher": "Li"}}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["custom"] == {"level": 3, "fee": "120.00", "teacher": "Li"}
    r = client.patch(f"{OBJ}/course/{rid}", json={"name": "M"}, headers={"If-Match": etag, **admin_headers})
    assert r.status_code == 412
    room_id = client.get(f"{OBJ}/room", headers=admin_headers).get_json()[0]["id"]
    assert client.get(f"{OBJ}/course/{room_id}", headers=admin_headers).status_code == 404  # other type

    # audit/events come from the same write path
    from crm_core.events.models import OutboxEvent

    types = [e.type for e in OutboxEvent.select().order_by(OutboxEvent.id)]
    assert "objects.course.created" in types and "objects.course.updated" in types

    assert client.delete(f"{OBJ}/course/{rid}", headers=admin_headers).status_code == 204
    assert client.get(f"{OBJ}/course/{rid}", headers=admin_headers).status_code == 404


def test_object_permissions(client, admin_headers, make_user):
    client.post(OBJ, json=COURSE, headers=admin_headers)
    client.post(OBJ, json={"name": "secret_thing", "fields": []}, headers=admin_headers)
    rid = client.post(
        f"{OBJ}/course", json={"name": "Math", "custom": {"level": 3, "fee": "10"}}, headers=admin_headers
    ).get_json()["id"]
    role = Role.create(name="course_reader")
    Grant.create(role=role, resource="objects.course", action="read", scope="all")
    FieldRule.create(role=role, resource="objects.course", field="fee", rule="hidden")
    _, headers = make_user("reader", roles=("course_reader",))

    assert [t["name"] for t in client.get(OBJ, headers=headers).get_json()] == ["course"]
    body = client.get(f"{OBJ}/course/{rid}", headers=headers).get_json()
    assert body["custom"] == {"level": 3}  # field rules hide custom fields of custom objects too
    r = client.post(f"{OBJ}/course", json={"name": "x", "custom": {"level": 1}}, headers=headers)
    assert r.status_code == 403
    assert client.get(f"{OBJ}/secret_thing", headers=headers).status_code == 403
    assert client.post(OBJ, json={"name": "mine"}, headers=headers).status_code == 403


def test_import_and_export_records(client, admin_headers):
    import io

    spec = {
        "name": "course",
        "fields": [
            {"name": "level", "type": "int", "min": 1, "max": 9, "label": {"en": "Level", "zh-CN": "级别"}},
            {"name": "tags", "type": "multi-choice", "choices": ["new", "hot"]},
        ],
    }
    assert client.post(OBJ, json=spec, headers=admin_headers).status_code == 201
    good = '名称,级别,custom.tags,colour\nMath,3,"new,hot",red\nArt,1,,blue\n'
    bad = good + "Chem,12,,x\n"

    def upload(text, mode="all_or_nothing"):
        data = {"file": (io.BytesIO(text.encode("utf-8")), "courses.csv"), "mode": mode}
        r = client.post(
            f"{OBJ}/course/import", data=data, headers=admin_headers, content_type="multipart/form-data"
        )
        assert r.status_code == 202, r.get_json()  # a task: followed as the scheduler would run it
        return follow_task(client, r, admin_headers)

    r = upload(bad)
    assert r.status_code == 422 and "row 4" in r.get_json()["errors"], r.get_json()
    assert client.get(f"{OBJ}/course", headers=admin_headers).get_json() == []  # nothing imported
    r = upload(bad, "valid_only")
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert (report["imported"], report["failed"], report["ignored_columns"]) == (2, 1, ["colour"])
    rows = client.get(f"{OBJ}/course?sort=name", headers=admin_headers).get_json()
    assert [(c["name"], c["custom"]) for c in rows] == [
        ("Art", {"level": 1}),
        ("Math", {"level": 3, "tags": ["new", "hot"]}),
    ]

    r = client.get(f"{OBJ}/course/export?format=csv&level__gte=2", headers=admin_headers)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    lines = r.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "id,name,owner_id,department_id,created_at,updated_at,custom.level,custom.tags"
    assert len(lines) == 2 and ",Math," in lines[1] and '"[""new"", ""hot""]"' in lines[1]
    # an export reads back as an import
    assert upload("\n".join(lines) + "\n").get_json()["imported"] == 1
    r = client.get(f"{OBJ}/course/export?format=xlsx", headers=admin_headers)
    assert r.status_code == 200 and r.get_data()[:2] == b"PK"


def test_import_refuses_a_file_with_no_known_column(client, admin_headers):
    import io

    assert client.post(OBJ, json={"name": "course"}, headers=admin_headers).status_code == 201
    data = {"file": (io.BytesIO(b"colour,size\nred,2\n"), "x.csv")}
    r = client.post(
        f"{OBJ}/course/import", data=data, headers=admin_headers, content_type="multipart/form-data"
    )
    r = follow_task(client, r, admin_headers)
    assert r.status_code == 400 and "colour" in str(r.get_json()["errors"])


def test_row_scopes_apply_to_custom_objects(client, admin_headers, make_user):
    client.post(OBJ, json=COURSE, headers=admin_headers)
    admins = client.post(f"{OBJ}/course", json={"name": "A", "custom": {"level": 1}}, headers=admin_headers)
    role = Role.create(name="course_owner")
    for action in ("read", "create", "update"):
        Grant.create(role=role, resource="objects.course", action=action, scope="own")
    _, headers = make_user("owner", roles=("course_owner",))
    mine = client.post(f"{OBJ}/course", json={"name": "B", "custom": {"level": 2}}, headers=headers)
    assert mine.status_code == 201
    assert [c["name"] for c in client.get(f"{OBJ}/course", headers=headers).get_json()] == ["B"]
    assert client.get(f"{OBJ}/course/{admins.get_json()['id']}", headers=headers).status_code == 404
    assert client.get(f"{OBJ}/course/export", headers=headers).status_code == 403  # no export grant
    assert len(client.get(f"{OBJ}/course", headers=admin_headers).get_json()) == 2


def test_reference_to_another_custom_object_type(client, admin_headers):
    client.post(OBJ, json={"name": "teacher"}, headers=admin_headers)
    client.post(OBJ, json={"name": "room"}, headers=admin_headers)
    spec = {
        "name": "course",
        "fields": [{"name": "taught_by", "type": "reference", "reference": "objects.teacher"}],
    }
    assert client.post(OBJ, json=spec, headers=admin_headers).status_code == 201
    teacher = client.post(f"{OBJ}/teacher", json={"name": "Li"}, headers=admin_headers).get_json()["id"]
    room = client.post(f"{OBJ}/room", json={"name": "R1"}, headers=admin_headers).get_json()["id"]
    r = client.post(
        f"{OBJ}/course", json={"name": "Math", "custom": {"taught_by": teacher}}, headers=admin_headers
    )
    assert r.status_code == 201 and r.get_json()["custom"] == {"taught_by": teacher}
    r = client.post(
        f"{OBJ}/course", json={"name": "Art", "custom": {"taught_by": room}}, headers=admin_headers
    )
    assert r.status_code == 422 and "custom.taught_by" in r.get_json()["errors"]  # a room is no teacher
    names = [
        c["name"] for c in client.get(f"{OBJ}/course?taught_by={teacher}", headers=admin_headers).get_json()
    ]
    assert names == ["Math"]
