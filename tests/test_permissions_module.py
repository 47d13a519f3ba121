"""The permission module through a throwaway plugin model: scopes as SQL, widest scope across
roles, OAuth2 scope intersection, vetoes and filters, field rules and mass assignment."""

from __future__ import annotations

import textwrap
import types

import peewee as pw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core import hookimpl
from crm_core.auth import actor_for_user, create_user
from crm_core.auth.models import Role
from crm_core.db import RecordModel
from crm_core.directory.departments import create_department, move_department
from crm_core.errors import APIError
from crm_core.permissions import (
    can,
    check_assignment,
    check_writable,
    field_rules,
    get_record,
    mask,
    place,
    require,
    scoped,
)
from crm_core.permissions.models import FieldRule, Grant
from crm_core.testing import TEST_PASSWORD

MIGRATION = textwrap.dedent(
    """
    import peewee as pw

    def up(migrator, db):
        class Widget(pw.Model):
            owner_id = pw.IntegerField(null=True, index=True)
            department_id = pw.IntegerField(null=True, index=True)
            custom = pw.TextField(default="{}")
            name = pw.CharField()
            amount = pw.IntegerField(default=0)
            created_at = pw.DateTimeField(null=True)
            updated_at = pw.DateTimeField(null=True)

            class Meta:
                database = db
                table_name = "permtest_widget"

        db.create_tables([Widget])
    """
)


class Widget(RecordModel):
    name = pw.CharField()
    amount = pw.IntegerField(default=0)

    class Meta:
        table_name = "permtest_widget"


@pytest.fixture
def plugin_app(register_plugin, tmp_path):
    """An app with the test plugin ``permtest`` (resource ``widgets``) registered."""
    mig = tmp_path / "permtest_migrations"
    mig.mkdir()
    (mig / "0001_widget.py").write_text(MIGRATION)
    state = types.SimpleNamespace(veto_names=set(), filter_min=None)

    plugin = types.SimpleNamespace(
        crm_models=hookimpl(lambda: [Widget]),
        crm_migrations=hookimpl(lambda: str(mig)),
        crm_permissions=hookimpl(
            lambda: [{"resource": "widgets", "actions": ["read", "update", "polish"], "sensitive": True}]
        ),
        crm_permission_check=hookimpl(
            lambda actor, action, resource, record: (
                False if record is not None and getattr(record, "name", None) in state.veto_names else None
            )
        ),
        crm_permission_filter=hookimpl(
            lambda actor, action, model: (
                model.amount >= state.filter_min if model is Widget and state.filter_min is not None else None
            )
        ),
    )
    app = register_plugin(plugin, "permtest")
    with app.app_context():
        yield app, state


@pytest.fixture
def tree(plugin_app):
    """root > mid > leaf, plus a sibling department ``other``; one widget per department and
    one owned by each user below."""
    root = create_department("root")
    mid = create_department("mid", root.id)
    leaf = create_department("leaf", mid.id)
    other = create_department("other")
    return types.SimpleNamespace(root=root, mid=mid, leaf=leaf, other=other)


def role_with(name, grants, rules=()):
    role = Role.create(name=name)
    for resource, action, scope in grants:
        Grant.create(role=role, resource=resource, action=action, scope=scope)
    for resource, field, rule in rules:
        FieldRule.create(role=role, resource=resource, field=field, rule=rule)
    return role


def actor(username, roles, dept, scopes=None):
    user = create_user(username, TEST_PASSWORD, roles=roles, department_id=dept.id if dept else None)
    return actor_for_user(user, scopes=scopes)


def widgets(tree, owner_id=None):
    made = {}
    for key in ("root", "mid", "leaf", "other"):
        made[key] = Widget.create(name=key, department_id=getattr(tree, key).id, amount=10)
    if owner_id is not None:
        made["mine"] = Widget.create(name="mine", department_id=tree.other.id, owner_id=owner_id, amount=5)
    return made


def visible(a, action="read"):
    return sorted(w.name for w in scoped(Widget.select(), a, "widgets", action))


@pytest.mark.parametrize(
    "scope, expected",
    [
        ("own", ["mine"]),
        ("department", ["mid", "mine"]),
        ("department_tree", ["leaf", "mid", "mine"]),
        ("all", ["leaf", "mid", "mine", "other", "root"]),
    ],
)
def test_each_scope_is_a_where_clause(tree, scope, expected):
    role_with("r", [("widgets", "read", scope)])
    a = actor("u", ["r"], tree.mid)
    widgets(tree, owner_id=a.id)
    query = scoped(Widget.select(), a, "widgets")
    assert sorted(w.name for w in query) == expected
    if scope != "all":
        sql, _ = query.sql()
        assert "WHERE" in sql.upper()


def test_department_tree_follows_a_moved_department(tree):
    role_with("r", [("widgets", "read", "department_tree")])
    a = actor("u", ["r"], tree.mid)
    widgets(tree)
    move_department(tree.leaf, tree.other.id)
    assert visible(a) == ["mid"]
    move_department(tree.other, tree.mid.id)
    assert visible(a) == ["leaf", "mid", "other"]
    with pytest.raises(APIError) as exc:
        move_department(tree.mid, tree.leaf.id)
    assert exc.value.code == 422


def test_widest_scope_across_roles_and_no_grant_is_403(tree):
    role_with("narrow", [("widgets", "read", "own")])
    role_with("wide", [("widgets", "read", "department_tree")])
    both = actor("both", ["narrow", "wide"], tree.root)
    widgets(tree)
    assert visible(both) == ["leaf", "mid", "root"]
    nobody = actor("nobody", [], tree.root)
    with pytest.raises(APIError) as exc:
        scoped(Widget.select(), nobody, "widgets")
    assert exc.value.code == 403


def test_get_record_404_outside_read_scope_403_without_action(tree):
    role_with("r", [("widgets", "read", "department"), ("widgets", "update", "own")])
    a = actor("u", ["r"], tree.mid)
    made = widgets(tree, owner_id=a.id)
    assert get_record(Widget, made["mid"].id, a, "widgets").name == "mid"
    for bad in (made["other"].id, 10**9, "1 OR 1=1", "x'; DROP TABLE permtest_widget; --"):
        with pytest.raises(APIError) as exc:
            get_record(Widget, bad, a, "widgets")
        assert exc.value.code == 404
    with pytest.raises(APIError) as exc:
        get_record(Widget, made["mid"].id, a, "widgets", "update")
    assert exc.value.code == 403
    assert get_record(Widget, made["mine"].id, a, "widgets", "update").name == "mine"
    # widgets are marked sensitive by the plugin: each single-record read is audited, nothing else
    from crm_core.audit.models import AuditEntry

    reads = AuditEntry.select().where(AuditEntry.kind == "read", AuditEntry.resource == "widgets")
    assert [(e.record_id, e.actor_id) for e in reads] == [(str(made["mid"].id), a.id)]


def test_admin_sees_everything_and_builtin_roles_exist(tree):
    assert {"admin", "manager", "sales", "service", "readonly"} <= {r.name for r in Role.select()}
    admin = actor("boss", ["admin"], None)
    widgets(tree)
    assert visible(admin) == ["leaf", "mid", "other", "root"]
    assert can(admin, "widgets", "polish")


CLIENT_SCOPE_CASES = [
    (["widgets:read"], "read", True),
    (["widgets:read"], "update", False),
    (["widgets:write"], "update", True),
    (["widgets:write"], "read", True),
    (["customers:read"], "read", False),
    (["widgets:*"], "polish", True),
    ([], "read", False),
]


def test_client_scopes_intersect_user_grants(tree):
    role_with("r", [("widgets", "read", "all"), ("widgets", "update", "all"), ("widgets", "polish", "own")])
    user = create_user("u", TEST_PASSWORD, roles=["r"], department_id=tree.mid.id)
    admin = create_user("adm", TEST_PASSWORD, roles=["admin"])
    wrong = []
    for scopes, action, allowed in CLIENT_SCOPE_CASES:
        for who in (user, admin):  # an admin's client is cut down too
            if can(actor_for_user(who, scopes=scopes), "widgets", action) is not allowed:
                wrong.append((who.username, scopes, action))
    assert not wrong


def test_veto_and_filter_never_widen(plugin_app, tree):
    _app, state = plugin_app
    role_with("r", [("widgets", "read", "all"), ("widgets", "update", "all")])
    a = actor("u", ["r"], tree.mid)
    made = widgets(tree, owner_id=a.id)
    state.veto_names = {"leaf"}
    assert not can(a, "widgets", "update", made["leaf"])
    with pytest.raises(APIError):
        require(a, "widgets", "update", made["leaf"])
    require(a, "widgets", "update", made["mid"])
    state.filter_min = 10
    assert "mine" not in visible(a)
    with pytest.raises(APIError) as exc:
        get_record(Widget, made["mine"].id, a, "widgets")
    assert exc.value.code == 404


def test_field_rules_union_over_roles(tree):
    role_with(
        "hider",
        [("widgets", "read", "all")],
        [("widgets", "amount", "hidden"), ("widgets", "name", "read-only")],
    )
    role_with("ro", [("widgets", "read", "all")], [("widgets", "amount", "read-only")])
    role_with("unrelated", [("customers", "read", "all")])
    one = actor("one", ["hider", "unrelated"], tree.mid)
    assert field_rules(one, "widgets") == {"amount": "hidden", "name": "read-only"}
    both = actor("both", ["hider", "ro"], tree.mid)
    assert field_rules(both, "widgets") == {"amount": "read-only"}  # "ro" leaves name writable
    data = {"id": 1, "name": "n", "amount": 3, "custom": {"amount": 1, "colour": "red"}}
    assert mask(one, "widgets", data) == {"id": 1, "name": "n", "custom": {"colour": "red"}}
    assert mask(one, "widgets", [data])[0]["custom"] == {"colour": "red"}
    assert data["custom"]["amount"] == 1  # the input is not changed
    with pytest.raises(APIError) as exc:
        check_writable(one, "widgets", {"name": "x", "custom": {"amount": 2, "colour": "blue"}})
    assert exc.value.code == 403
    assert set(exc.value.data["errors"]) == {"name", "amount"}
    check_writable(one, "widgets", {"custom": {"colour": "blue"}})


# (scope, owner, department, expected): "other" owns no department unless named "other_in_<dept>";
# the department must be covered by the scope, the owner assignable, and the department the owner's
ASSIGNMENT_CASES = [
    ("own", "me", None, True),
    ("own", "me", "mid", True),
    ("own", "me", "leaf", 422),  # not the owner's department
    ("own", "other", "mid", 403),
    ("department", "other", "mid", 403),  # the owner belongs to no department the scope covers
    ("department", "other_in_mid", None, True),  # the department defaults to the owner's
    ("department", "other_in_leaf", None, 403),
    ("department", "nobody", "mid", True),
    ("department", "nobody", "leaf", 403),
    ("department", "nobody", None, 403),  # nobody in the scope would own or hold it
    ("department_tree", "other_in_leaf", None, True),
    ("department_tree", "nobody", "leaf", True),
    ("department_tree", "nobody", "root", 403),
    ("department_tree", "me", "other", 422),
    ("all", "other", "other", True),
    ("all", "other_in_leaf", "other", 422),
    ("all", "ghost", None, 422),
    ("department", "ghost", None, 403),  # a free id looks like one outside the scope
]


def test_check_assignment(tree):
    other_user = create_user("someone", TEST_PASSWORD)
    in_dept = {
        "mid": create_user("in-mid", TEST_PASSWORD, department_id=tree.mid.id),
        "leaf": create_user("in-leaf", TEST_PASSWORD, department_id=tree.leaf.id),
    }
    wrong = []
    for i, (scope, owner, dept, expected) in enumerate(ASSIGNMENT_CASES):
        role_with(f"r{i}", [("widgets", "create", scope)])
        a = actor(f"u{i}", [f"r{i}"], tree.mid)
        owner_id = {"me": a.id, "other": other_user.id, "nobody": None, "ghost": 99999}.get(owner)
        if owner.startswith("other_in_"):
            owner_id = in_dept[owner.removeprefix("other_in_")].id
        dept_id = getattr(tree, dept).id if dept else None
        try:
            if dept is None and owner != "nobody":
                place(a, "widgets", "create", owner_id)
            else:
                check_assignment(a, "widgets", "create", owner_id, dept_id)
            outcome = True
        except APIError as exc:
            assert exc.data["errors"]
            outcome = exc.code
        if outcome != expected:
            wrong.append((scope, owner, dept, outcome))
    assert not wrong


def test_place_defaults_to_the_owners_department(tree):
    colleague = create_user("colleague", TEST_PASSWORD, department_id=tree.leaf.id)
    role_with("tree", [("widgets", "create", "department_tree")])
    a = actor("boss", ["tree"], tree.mid)
    assert place(a, "widgets", "create", colleague.id) == (colleague.id, tree.leaf.id)
    assert place(a, "widgets", "create", a.id) == (a.id, tree.mid.id)


SCOPE_NAMES = ["own", "department", "department_tree", "all"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    role_scopes=st.lists(st.sampled_from([None, *SCOPE_NAMES]), min_size=1, max_size=3),
    home=st.sampled_from(["root", "mid", "leaf", "other", None]),
    rows=st.lists(
        st.tuples(st.sampled_from(["root", "mid", "leaf", "other", None]), st.booleans()),
        min_size=0,
        max_size=8,
    ),
)
def test_scoped_sql_matches_a_reference_model(tree, fast_hashing, role_scopes, home, rows):
    """For any mix of roles, department and records, the SQL scope selects exactly the records a
    plain Python reading of the rules selects: widest scope wins, the owner always sees theirs."""
    from crm_core.db import database

    below = {"root": {"root", "mid", "leaf"}, "mid": {"mid", "leaf"}, "leaf": {"leaf"}, "other": {"other"}}
    with database.atomic() as tx:
        names = []
        for i, scope in enumerate(role_scopes):
            grants = [("widgets", "read", scope)] if scope else [("customers", "read", "all")]
            role_with(f"r{i}", grants)
            names.append(f"r{i}")
        a = actor("subject", names, getattr(tree, home) if home else None)
        made = []
        for i, (dept, mine) in enumerate(rows):
            w = Widget.create(
                name=f"w{i}",
                department_id=getattr(tree, dept).id if dept else None,
                owner_id=a.id if mine else None,
            )
            made.append((w.name, dept, mine))
        granted = [s for s in role_scopes if s]
        if not granted:
            with pytest.raises(APIError):
                scoped(Widget.select(), a, "widgets")
        else:
            widest = max(granted, key=SCOPE_NAMES.index)

            def sees(dept, mine):
                if widest == "all" or mine:
                    return True
                if widest == "own" or home is None or dept is None:
                    return False
                return dept == home if widest == "department" else dept in below[home]

            expected = sorted(name for name, dept, mine in made if sees(dept, mine))
            assert visible(a) == expected
        tx.rollback()
