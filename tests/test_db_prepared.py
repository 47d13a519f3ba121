"""``crm_core.db.Prepared``: a query compiled once per dialect gives what the plain query gives."""

import datetime as dt

import peewee as pw
import pytest

from crm_core.auth.models import Department, User
from crm_core.db import utcnow
from crm_core.prepared import Prepared, slot

# module-level, as in real use: one object serves the SQLite and the PostgreSQL runs in turn
USERS_IN = Prepared(
    lambda: (
        User.select(User, Department)
        .join(Department, pw.JOIN.LEFT_OUTER)
        .where((User.department == slot("dept")) | (User.username == slot("name")))
        .order_by(User.username)
    )
)
CREATED_BEFORE = Prepared(
    lambda: User.select(pw.fn.COUNT(User.id)).where(
        User.created_at <= slot("when"), User.username.startswith("p_")
    )
)
RENAME = Prepared(lambda: User.update(name=slot("name")).where(User.id == slot("id")))
DEPT_COUNTS = Prepared(
    lambda: (
        Department.select(Department.name, pw.fn.COUNT(User.id).alias("n"))
        .join(User, pw.JOIN.LEFT_OUTER)
        .where(Department.name.in_(["Sales", "Service"]))
        .group_by(Department.name)
        .order_by(Department.name)
        .tuples()
    )
)


@pytest.fixture
def people(app):
    sales = Department.create(name="Sales", path="/s/")
    service = Department.create(name="Service", path="/v/")
    rows = {
        "p_ann": User.create(username="p_ann", name="Ann", password_hash="-", department=sales),
        "p_bob": User.create(username="p_bob", name="Bob", password_hash="-", department=sales),
        "p_cy": User.create(username="p_cy", name="Cy", password_hash="-", department=service),
        "p_dee": User.create(username="p_dee", name="Dee", password_hash="-"),
    }
    return sales, service, rows


@pytest.mark.parametrize(
    "dept, name",
    [("sales", "nobody"), ("service", "p_dee"), ("sales", "p_cy")],
)
def test_rows_match_the_plain_query_with_joined_models(people, dept, name):
    dept_id = {"sales": people[0], "service": people[1]}[dept].id
    plain = list(
        User.select(User, Department)
        .join(Department, pw.JOIN.LEFT_OUTER)
        .where((User.department == dept_id) | (User.username == name))
        .order_by(User.username)
    )
    prepared = USERS_IN.rows(dept=dept_id, name=name)
    assert [u.username for u in prepared] == [u.username for u in plain]
    assert [u.department.name if u.department_id else None for u in prepared] == [
        u.department.name if u.department_id else None for u in plain
    ]
    assert all(isinstance(u.created_at, dt.datetime) for u in prepared)


def test_a_none_slot_compares_as_sql_null_never_equal(people):
    # unlike peewee's ``field == None`` (IS NULL): the SQL is compiled before the value is known
    assert [u.username for u in USERS_IN.rows(dept=None, name="p_bob")] == ["p_bob"]


def test_datetime_slots_compare_as_stored(people):
    assert CREATED_BEFORE.scalar(when=utcnow()) == 4
    assert CREATED_BEFORE.scalar(when=utcnow() - dt.timedelta(days=1)) == 0


def test_execute_writes_and_reports_the_rowcount(people):
    ann = people[2]["p_ann"]
    assert RENAME.execute(name="Ann B.", id=ann.id).rowcount == 1
    assert User.get_by_id(ann.id).name == "Ann B."
    assert RENAME.execute(name="x", id=-1).rowcount == 0


def test_query_without_slots_keeps_its_own_parameters(people):
    assert DEPT_COUNTS.rows() == [("Sales", 2), ("Service", 1)]


@pytest.mark.parametrize("values", [{}, {"dept": 1}, {"dept": 1, "name": "x", "extra": 2}])
def test_missing_or_unknown_values_are_refused(people, values):
    with pytest.raises(TypeError, match="dept"):
        USERS_IN.rows(**values)
