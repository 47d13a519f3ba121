"""Invariant of ``custom_expression``: SQL filters and sorts on custom values agree with Python's
comparison of the same values, for the types whose stored form is not the natural one (decimals
as text, datetimes with offsets), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.custom import custom_expression, validate_custom
from crm_core.custom.objects import object_model

money = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2)
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2099, 1, 1),
    timezones=st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
    ),
)
rows = st.lists(st.tuples(money, moments, st.integers(-(2**40), 2**40)), min_size=1, max_size=12)


def utc_seconds(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows, pivot=st.tuples(money, moments, st.integers(-(2**40), 2**40)))
def test_sql_comparisons_match_python(client, admin_headers, db, data, pivot):
    if client.get("/api/v1/objects/probe/definition", headers=admin_headers).status_code == 404:
        spec = {
            "name": "probe",
            "fields": [
                {"name": "amount", "type": "decimal", "filterable": True},
                {"name": "at", "type": "datetime"},
                {"name": "big", "type": "int"},
            ],
        }
        assert client.post("/api/v1/objects", json=spec, headers=admin_headers).status_code == 201
    model = object_model("probe")
    model.delete().execute()
    for amount, at, big in data:
        values = validate_custom("objects.probe", {"amount": str(amount), "at": at.isoformat(), "big": big})
        model.create(custom=values)

    amount, at, big = pivot
    for name, python_value, query_value, key in (
        ("amount", amount, str(amount), lambda r: r[0]),
        ("at", utc_seconds(at), at.isoformat(), lambda r: utc_seconds(r[1])),
        ("big", big, str(big), lambda r: r[2]),
    ):
        expr = custom_expression(model, name)
        got = model.select().where(expr >= query_value).count()
        assert got == sum(1 for r in data if key(r) >= python_value), name
        ordered = [key_of(rec, name) for rec in model.select().order_by(expr.asc(), model.id)]
        assert ordered == sorted(ordered), name


def key_of(record, name):
    value = record.custom[name]
    if name == "amount":
        return Decimal(value)
    if name == "at":
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    return value
