"""``POST {path}/bulk-update``: add tags, remove tags and set the owner of many records at once.

Mounted on a collection with :func:`register_bulk_update` (customers do: ``api/customers.py``);
the work is :func:`crm_core.records.bulk_update.bulk_update`, one transaction and one batch of
audit entries and events, each record checked and written through ``records.service.update``.
The answer is 200 with what happened to each id, also when some (or all) were refused: the
refusal is per record, with its code and message in the reader's language. A request that no
record could satisfy (empty, too many ids, no operation, an unknown owner) is a 422 with
per-field messages, and one the actor may not make at all (no update grant, a read-only
``owner_id`` or ``tags``, an owner outside the actor's scope) a 403; nothing is written then.
``Idempotency-Key`` works as on every POST (:mod:`crm_core.api.idempotency`): a retry with the
same key and body gets the first answer and changes nothing again.
"""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..auth import current_actor
from ..errors import localise
from ..records.bulk_update import MAX_IDS, bulk_update, has_owner, has_tags
from .idempotency import idempotent
from .responses import json_response

#: Most tags one request may add (or remove): a bulk change is a few labels, not a vocabulary.
MAX_TAGS = 50

_ID = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**63 - 1))
_TAG = fields.String(validate=validate.Length(min=1, max=100))


class BulkUpdateSchema(Schema):
    """The body of a bulk update: the records and at least one operation."""

    ids = fields.List(
        _ID,
        required=True,
        validate=validate.Length(min=1, max=MAX_IDS),
        metadata={"description": f"The records to change (1 to {MAX_IDS})."},
    )
    add_tags = fields.List(
        _TAG, validate=validate.Length(max=MAX_TAGS), metadata={"description": "Tags to add"}
    )
    remove_tags = fields.List(
        _TAG, validate=validate.Length(max=MAX_TAGS), metadata={"description": "Tags to remove"}
    )
    owner_id = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "The new owner (the records move to the owner's department)"},
    )

    @validates_schema
    def _one_operation(self, data, **_kwargs):
        blank = [name for name in ("add_tags", "remove_tags") for t in data.get(name) or [] if not t.strip()]
        if blank:
            raise ValidationError("Give a tag name.", field_name=blank[0])
        if not data.get("add_tags") and not data.get("remove_tags") and data.get("owner_id") is None:
            raise ValidationError("Give tags to add or remove, or an owner.", field_name="_schema")
        both = {t.strip() for t in data.get("add_tags") or []} & {
            t.strip() for t in data.get("remove_tags") or []
        }
        if both:
            raise ValidationError("A tag cannot be both added and removed.", field_name="remove_tags")


class RefusalSchema(Schema):
    """One record that was not changed, and why."""

    id = fields.Integer(required=True)
    code = fields.Integer(
        required=True, metadata={"description": "404 (no such record you can read), 403, 409, 422"}
    )
    message = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Per-field messages"})


class BulkCountsSchema(Schema):
    """How many records each outcome holds."""

    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    refused = fields.Integer(required=True)


class BulkOutcomeSchema(Schema):
    """What a bulk update did to each record named."""

    updated = fields.List(
        fields.Integer(),
        required=True,
        metadata={"description": "Changed: one audit entry and one event each"},
    )
    unchanged = fields.List(
        fields.Integer(), required=True, metadata={"description": "Already as asked: nothing written"}
    )
    refused = fields.List(fields.Nested(RefusalSchema), required=True)
    counts = fields.Nested(BulkCountsSchema, required=True)


def _localised(outcome: dict) -> dict:
    """The outcome with each refusal's message and field messages in the reader's language."""
    refused = []
    for item in outcome["refused"]:
        said = localise({"message": item["message"], "errors": item["errors"]})
        refused.append({**item, "message": said["message"], "errors": said.get("errors") or {}})
    return {**outcome, "refused": refused}


def register_bulk_update(crud) -> type:
    """Mount ``POST {path}/bulk-update`` for the collection ``crud`` (what ``register_crud``
    returned; it needs tags or an owner); the view class."""
    if not (has_tags(crud) or has_owner(crud)):
        raise ValueError(f"{crud.resource} records have neither tags nor an owner to change in bulk")
    blp, view = crud.blueprint, crud.view
    label = view.label

    @blp.arguments(BulkUpdateSchema)
    @blp.response(200, BulkOutcomeSchema)
    @blp.doc(summary=f"Tag, untag or assign many of {label}")
    def post(_self, data):
        """Add tags, remove tags and/or set the owner of up to 1000 records in one transaction.
        Each record is checked as a PATCH would be and gets one audit entry and one event when
        it changes; records already as asked are ``unchanged``; one that does not exist or that
        you cannot read is refused with 404, one you may read but not change with 403. Send
        ``Idempotency-Key`` to make retries safe."""
        actor = current_actor()

        def run():
            outcome = bulk_update(
                crud,
                data["ids"],
                actor,
                add_tags=data.get("add_tags"),
                remove_tags=data.get("remove_tags"),
                owner_id=data.get("owner_id"),
            )
            return json_response(_localised(outcome.as_dict()))

        return idempotent(actor, run)

    name = f"{view.name}_bulk_update"
    view_class = type(name, (MethodView,), {"post": post})
    blp.route(f"{view.path}/bulk-update", endpoint=name)(view_class)
    return view_class
