"""Bulk changes to many records of one collection as one actor: add tags, remove tags, set the owner.

:func:`bulk_update` is the one implementation behind ``POST /api/v1/customers/bulk-update`` and
the workbench's bulk tag and bulk "Assign to". Every record still goes through the one write path
(``records.service.update``: its permission checks, placement by ``permissions.place``, one
audit entry and one outbox event), but the whole request runs in one ``write_transaction()``
and one ``changes.batched()``, so the audit entries and events of the batch are written as one
multi-row insert each and the audit chain's head moves once. Each record is a
``Batch.item()``: one that is refused drops out alone and the others are still written.

What the actor may do is decided by ``crm_core.permissions`` only: records are read with
``permissions.get_record`` (404, in the same words, whether a record does not exist or lies
outside the read scope: no existence leak; 403 when readable but outside the update scope), and
the fields written are checked by ``check_writable`` and ``place`` as any update is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import changes, permissions
from ..auth.models import User
from ..db import write_transaction
from ..errors import APIError
from . import references, service

#: Most records one bulk change may name. The whole batch holds its transaction (and, on
#: SQLite, the database's one write lock) and every row lock until it commits, and its audit
#: entries and events go in as one insert: a thousand records is about a second of writing and
#: a few hundred kilobytes of audit rows. A larger selection is sent in several requests.
MAX_IDS = 1000


@dataclass
class Outcome:
    """What a bulk change did: ids ``updated`` (changed and reported once each), ``unchanged``
    (already carried the tags and owner asked for: no write, no audit entry, no event), and
    ``refused``: ``{"id", "code", "message", "errors"}`` for each record that was not written
    (404 for one that does not exist or that the actor cannot read)."""

    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The JSON-ready outcome, with the counts."""
        return {
            "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "refused": [dict(item) for item in self.refused],
            "counts": {
                "updated": len(self.updated),
                "unchanged": len(self.unchanged),
                "refused": len(self.refused),
            },
        }


def _names(tags: Iterable[str] | None) -> list[str]:
    """Tag names as the write path stores them: stripped, no blanks, no repeats, sorted (the rule
    of ``entities.tags.tag_names``, which this layer, below entities, cannot import)."""
    return sorted({str(t).strip() for t in tags or () if t is not None and str(t).strip()})


def has_tags(collection) -> bool:
    """True when the records of ``collection`` carry tags (its schema has a ``tags`` field)."""
    return "tags" in getattr(collection.schema, "fields", {})


def has_owner(collection) -> bool:
    """True when the records of ``collection`` have an owner (and so a department) to set."""
    fields = collection.model._meta.fields
    return "owner_id" in fields and "department_id" in fields


def _refuse(field_name: str, error: APIError) -> APIError:
    """``error`` with its message as the one per-field message of ``field_name``."""
    error.data["errors"] = {field_name: [error.message]}
    return error


def _check_request(collection, ids: list, add: list, remove: list, owner_id) -> None:
    """422 for a request no record could satisfy (the API's schema says the same per field; the
    workbench and other callers get the same answer here)."""
    if not ids:
        raise _refuse("ids", APIError(422, "Choose at least one record."))
    if len(ids) > MAX_IDS:
        raise _refuse("ids", APIError(422, f"At most {MAX_IDS} records at a time."))
    if not add and not remove and owner_id is None:
        raise _refuse("_schema", APIError(422, "Give tags to add or remove, or an owner."))
    if (add or remove) and not has_tags(collection):
        raise _refuse("add_tags" if add else "remove_tags", APIError(422, "These records have no tags."))
    if set(add) & set(remove):
        raise _refuse("remove_tags", APIError(422, "A tag cannot be both added and removed."))
    if owner_id is not None and not has_owner(collection):
        raise _refuse("owner_id", APIError(422, "These records have no owner."))


def _check_owner(actor, resource: str, owner_id) -> None:
    """The new owner must be an active user the actor may read (422 on ``owner_id`` otherwise, in
    the same words whether the user does not exist or lies outside the actor's read scope), and
    one the actor may assign ``resource`` records to (``permissions.place``: 403 naming
    ``owner_id``). Both depend on the actor and the owner only, so they are asked once for the
    batch rather than refusing every record alike."""
    query = User.select(User.id).where(User.id == owner_id, User.is_active == True)  # noqa: E712  (SQL)
    try:
        found = references.readable(actor, "users", User, query).exists()
    except APIError:  # may read no user at all: the same answer as for one it cannot read
        found = False
    if not found:
        raise _refuse("owner_id", APIError(422, f"No active user {owner_id} that you can read."))
    permissions.place(actor, resource, "update", owner_id)


def _data_for(record, add: list, remove: list, owner_id) -> dict:
    """What ``service.update`` is given for ``record``: the new tag list and the new owner, each
    only when it differs from what the record has (empty: the record is unchanged)."""
    data = {}
    if add or remove:
        current = _names(getattr(record, "tags", None))
        wanted = sorted((set(current) | set(add)) - set(remove))
        if wanted != current:
            data["tags"] = wanted
    if owner_id is not None and owner_id != record.owner_id:
        data["owner_id"] = owner_id
    return data


def bulk_update(
    collection,
    ids: Iterable,
    actor,
    *,
    add_tags: Iterable[str] | None = None,
    remove_tags: Iterable[str] | None = None,
    owner_id: int | None = None,
) -> Outcome:
    """Add ``add_tags``, remove ``remove_tags`` and set ``owner_id`` (and with it the owner's
    department, as ``service.update`` places it) on the records ``ids`` of ``collection`` (a
    ``Crud``: ``resource``, ``model``, ``schema``, ``write_options``) as ``actor``.

    The request itself is refused as a whole (``APIError``, nothing written) when it is empty or
    names more than :data:`MAX_IDS` records (422), when the actor may not update the resource or
    write the fields at all (403, ``check_writable``: a read-only ``owner_id`` or ``tags``), or
    when the new owner is not an active user the actor may read (422) and assign to (403). Else
    each record is read under its row lock (in id order, so concurrent bulk changes queue rather
    than deadlock) and updated in a ``Batch.item()``; a refused one (404, 403, 409, 422) is
    listed in ``Outcome.refused`` with its code and message, and the rest are written in one
    transaction with their audit entries and events reported as one batch.
    """
    wanted_ids = sorted({int(i) for i in ids})
    add, remove = _names(add_tags), _names(remove_tags)
    _check_request(collection, wanted_ids, add, remove, owner_id)
    resource, model = collection.resource, collection.model
    options = dict(collection.write_options or {})
    outcome = Outcome()
    with write_transaction():
        permissions.require(actor, resource, "update")
        # the fields the batch writes, so a field rule that forbids them refuses it once, up front
        written = {"tags": add or remove} if add or remove else {}
        if owner_id is not None:
            written["owner_id"] = owner_id
        permissions.check_writable(actor, resource, written)
        if owner_id is not None:
            _check_owner(actor, resource, owner_id)
        with changes.batched() as batch:
            for record_id in wanted_ids:
                try:
                    with batch.item():
                        record = permissions.get_record(
                            model, record_id, actor, resource, "update", lock=True
                        )
                        data = _data_for(record, add, remove, owner_id)
                        if data:
                            service.update(resource, record, data, actor, **options)
                            outcome.updated.append(record_id)
                        else:
                            outcome.unchanged.append(record_id)
                except APIError as exc:
                    outcome.refused.append(
                        {
                            "id": record_id,
                            "code": exc.code,
                            "message": exc.message,
                            "errors": exc.data.get("errors") or {},
                        }
                    )
    return outcome
