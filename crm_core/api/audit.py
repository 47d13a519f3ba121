"""``GET /api/v1/audit``: the audit log, itself permission-checked.

The caller needs ``audit:read``; on top of its row scope, an entry is listed only if the caller
could read the record it is about (the record's resource grants ``read`` and the record's owner
and department lie in that scope), and fields hidden from the caller on that resource are taken
out of ``before``/``after``: the audit log is no side door. Entries of audited reads (kind
``read``: secret reveals, exports, privacy exports; kind ``auth``: logins) follow the same rules;
an export's filter loses the keys (and sort terms) that name a hidden field.
"""

from __future__ import annotations

import json

import peewee as pw
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from .. import permissions
from ..audit.chain import seal
from ..audit.models import AuditEntry
from ..auth import current_actor
from ..db import is_postgres
from ..entities.schemas import UTCDateTime
from . import API_PREFIX, Blueprint
from .common import PageArgs, text
from .paging import PAGINATION_HEADER_DOC, page_of
from .responses import json_response

blp = Blueprint("audit", __name__, url_prefix=f"{API_PREFIX}/audit", description="Audit log")


class AuditArgs(PageArgs):
    resource = text(120)
    record_id = text(64)
    actor_id = fields.Integer()
    client_id = text(64)
    action = text(40)
    kind = fields.String(validate=validate.OneOf(["write", "read", "auth", "anchor"]))
    request_id = text(128)
    since = UTCDateTime(metadata={"description": "ISO 8601, UTC"})
    until = UTCDateTime(metadata={"description": "ISO 8601, UTC"})


class AuditOut(Schema):
    id = fields.Integer()
    seq = fields.Integer(allow_none=True)
    hash = fields.String(allow_none=True)
    prev_hash = fields.String(allow_none=True)
    occurred_at = fields.String()
    kind = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    resource = fields.String()
    record_id = fields.String(allow_none=True)
    action = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)


def _naive(value):
    if value is not None and value.tzinfo is not None:
        from datetime import UTC

        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def visible_entries(actor, query=None):
    """``query`` (default: every entry) cut down to the entries ``actor`` may see, in SQL."""
    query = permissions.scoped(
        query if query is not None else AuditEntry.select(), actor, "audit", model=AuditEntry
    )
    if actor.is_admin:
        return query
    per_resource = []
    names = [r for (r,) in AuditEntry.select(AuditEntry.resource).distinct().tuples()]
    for name in names:
        view = permissions.view(actor, name)
        if not view.allowed:
            continue
        cond = AuditEntry.resource == name
        for scope_cond in view.image_conditions(AuditEntry):
            cond = cond & scope_cond
        per_resource.append(cond)
    if not per_resource:
        return query.where(pw.SQL("1 = 0"))
    combined = per_resource[0]
    for cond in per_resource[1:]:
        combined = combined | cond
    return query.where(combined)


def _field_of(key: str) -> str:
    """The field a list filter key is about: ``phone__contains`` -> ``phone``,
    ``custom.vip`` -> ``vip``."""
    name = key.split("__", 1)[0].strip().lstrip("-+")
    return name[len("custom.") :] if name.startswith("custom.") else name


def _mask_filter(actor, resource: str, query: dict) -> dict:
    """An audited export's query without the filters and sort terms on fields hidden from
    ``actor`` (a filter value is a value of that field)."""
    hidden = permissions.view(actor, resource).hidden
    if not hidden:
        return query
    out = {}
    for key, value in query.items():
        if key == "sort" and isinstance(value, str):
            terms = [t for t in value.split(",") if _field_of(t) not in hidden]
            if terms:
                out[key] = ",".join(terms)
        elif _field_of(key) not in hidden:
            out[key] = value
    return out


def entry_dict(actor, row: AuditEntry) -> dict:
    """JSON view of an entry with the caller's hidden fields removed from before/after (and
    from the filter of an audited export)."""
    before = json.loads(row.before) if row.before else None
    after = json.loads(row.after) if row.after else None
    if row.kind != "anchor":
        view = permissions.view(actor, row.resource)
        before = view.dump(before) if isinstance(before, dict) else before
        after = view.dump(after) if isinstance(after, dict) else after
        if row.kind == "read" and isinstance(after, dict) and isinstance(after.get("filter"), dict):
            after["filter"] = _mask_filter(actor, row.resource, after["filter"])
    return {
        "id": row.id,
        "seq": row.seq,
        "hash": row.hash,
        "prev_hash": row.prev_hash,
        "occurred_at": row.occurred_at.isoformat() if row.occurred_at else None,
        "kind": row.kind,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "client_id": row.client_id,
        "resource": row.resource,
        "record_id": row.record_id,
        "action": row.action,
        "before": before,
        "after": after,
        "request_id": row.request_id,
        "ip": row.ip,
    }


def _mentions(key: str, value: int):
    """The SQL condition: the entry's ``after[key]`` is a JSON list holding ``value``."""
    # placeholders in each driver's own style: peewee passes an SQL node's text through as is
    if is_postgres():
        return pw.SQL('(CAST("after" AS jsonb) -> %s) @> CAST(%s AS jsonb)', (key, json.dumps([value])))
    return pw.SQL(
        'EXISTS (SELECT 1 FROM json_each("after", ?) WHERE json_each.value = ?)', (f"$.{key}", value)
    )


def entries_about(actor, resource: str, *, kind=None, record_id=None, mentions=None, page=1, page_size=50):
    """``(entries, total)``: one page, newest first, of the audit entries of ``resource`` that
    ``actor`` may see (the rules of ``GET /audit``; 403 without ``audit:read``), about the record
    ``record_id`` or, with ``mentions=(key, value)``, naming ``value`` in the list ``after[key]``
    (one audited read of many records: a plugin's read audit per patient)."""
    permissions.require(actor, "audit", "read")
    seal()
    query = AuditEntry.select().where(AuditEntry.resource == resource)
    if kind is not None:
        query = query.where(AuditEntry.kind == kind)
    about = []
    if record_id is not None:
        about.append(AuditEntry.record_id == str(record_id))
    if mentions is not None:
        about.append(_mentions(*mentions))
    if about:
        query = query.where(about[0] | about[1] if len(about) == 2 else about[0])
    query = visible_entries(actor, query)
    total = query.count()
    rows = query.order_by(AuditEntry.id.desc()).paginate(max(1, int(page)), max(1, min(int(page_size), 200)))
    return [entry_dict(actor, r) for r in rows], total


@blp.route("")
class Audit(MethodView):
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditOut(many=True), headers=PAGINATION_HEADER_DOC)
    def get(self, args):
        """Audit entries, newest first, filtered by resource, record, actor, client, action,
        kind, request id and time; only entries about records the caller may read."""
        actor = current_actor()
        permissions.require(actor, "audit", "read")
        seal()  # so that what is listed carries its place in the chain
        query = AuditEntry.select()
        for key in ("resource", "record_id", "actor_id", "client_id", "action", "kind", "request_id"):
            if key in args:
                query = query.where(getattr(AuditEntry, key) == args[key])
        if "since" in args:
            query = query.where(AuditEntry.occurred_at >= _naive(args["since"]))
        if "until" in args:
            query = query.where(AuditEntry.occurred_at < _naive(args["until"]))
        query = visible_entries(actor, query).order_by(AuditEntry.id.desc())
        rows, headers = page_of(query, args)
        return json_response([entry_dict(actor, r) for r in rows], 200, headers)
