"""``api.dumping.dump`` gives exactly what ``schema.dump`` gives, for every collection the app
serves (core and plugins), with and without hidden fields, one record and many."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from marshmallow import Schema, fields, post_dump

from crm_core.api import dumping
from crm_core.records.collections import collections


@pytest.fixture
def seeded(app, client, admin_headers):
    from crm_core.demo.customers import seed

    seed(40)  # the core's demo and every installed plugin's
    return app


def test_every_collection_dumps_as_marshmallow_does(seeded):
    compared = 0
    for resource, collection in sorted(collections().items()):
        rows = list(collection.model.select().limit(25))
        if not rows:
            continue
        if collection.prefetch:
            collection.prefetch(rows)
        for hidden in (frozenset(), frozenset(list(collection.schema.fields)[1:3])):
            for many in (True, False):
                schema = collection.schema_for(hidden, many)
                data = rows if many else rows[0]
                assert dumping.dump(schema, data, many) == schema.dump(data, many=many), resource
                compared += 1
    assert compared >= 40, compared  # the core's collections and the plugins' were all there


class _Row:
    def __init__(self, **values):
        self.__dict__.update(values)


class _Sample(Schema):
    id = fields.Integer()
    name = fields.String(data_key="title")
    price = fields.Decimal(as_string=True)
    at = fields.DateTime()
    label = fields.String(attribute="nick")
    absent = fields.String()
    defaulted = fields.String(dump_default="none")
    computed = fields.Method("_twice")
    function = fields.Function(lambda row: row.id * 3)

    def _twice(self, row):
        return row.id * 2


class _Hooked(_Sample):
    @post_dump
    def shout(self, data, **kwargs):
        return {k: str(v).upper() for k, v in data.items()}


@pytest.mark.parametrize("schema", [_Sample(), _Hooked(), _Sample(only=("id", "computed"))])
def test_a_schema_of_every_kind_of_field_dumps_alike(schema):
    rows = [
        _Row(
            id=i,
            name=f"n{i}",
            nick=f"k{i}",
            price=decimal.Decimal("1.50") * i,
            at=dt.datetime(2026, 1, i + 1),
        )
        for i in range(3)
    ]
    assert dumping.dump(schema, rows, True) == schema.dump(rows, many=True)
    assert dumping.dump(schema, rows[0], False) == schema.dump(rows[0])


def test_rows_that_are_mappings_are_dumped_by_marshmallow():
    schema = Schema.from_dict({"id": fields.Integer(), "name": fields.String(data_key="title")})()
    mappings = [{"id": 1, "name": "m"}, {"id": 2}]
    assert dumping.dump(schema, mappings, True) == schema.dump(mappings, many=True)
