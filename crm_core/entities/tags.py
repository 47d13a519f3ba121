"""Tags on customers: created by use, unique by name, linked and unlinked in bulk."""

from __future__ import annotations

from ..db import utcnow
from ..errors import APIError
from .models import (
    Customer,
    CustomerTag,
    Tag,
)


def tag_names(names) -> list[str]:
    """Tag names as they are stored: stripped, no blanks, no repeats, sorted."""
    return sorted({n.strip() for n in names or () if n and n.strip()})


def tag_ids(names: list[str]) -> list[int]:
    """Ids of the tags named, creating the missing ones (tags are created by use)."""
    names = tag_names(names)
    if not names:
        return []
    existing = dict(Tag.select(Tag.name, Tag.id).where(Tag.name.in_(names)).tuples())
    missing = [n for n in names if n not in existing]
    if missing:
        now = utcnow()
        Tag.insert_many(
            [{"name": n, "created_at": now, "updated_at": now} for n in missing]
        ).on_conflict_ignore().execute()
        existing = dict(Tag.select(Tag.name, Tag.id).where(Tag.name.in_(names)).tuples())
    return [existing[n] for n in names]


def set_tags(record: Customer, data: dict, before=None) -> None:
    """Replace the customer's tags with ``data["tags"]`` when given (``before`` None: a new
    customer). The record then knows its tags, so its audit image, event and response read none."""
    if "tags" not in data:
        if before is None:  # just inserted: no tag can link to it yet
            record._tags = []
        return
    names = tag_names(data["tags"])
    wanted = set(tag_ids(names))
    current = set()
    if before is not None:
        current = {
            t
            for (t,) in CustomerTag.select(CustomerTag.tag).where(CustomerTag.customer == record.id).tuples()
        }
    if current - wanted:
        CustomerTag.delete().where(
            CustomerTag.customer == record.id, CustomerTag.tag.in_(list(current - wanted))
        ).execute()
    if wanted - current:
        CustomerTag.insert_many(
            [{"customer": record.id, "tag": t} for t in sorted(wanted - current)]
        ).execute()
    record._tags = names


def delete_tag_links(tag: Tag) -> None:
    """Unlink a tag from every customer (before the tag is deleted)."""
    CustomerTag.delete().where(CustomerTag.tag == tag.id).execute()


def tag_unique(record, data=None, before=None):
    """409 when another tag has this name."""
    query = Tag.select(Tag.id).where(Tag.name == record.name)
    if record.id is not None:
        query = query.where(Tag.id != record.id)
    existing = query.scalar()
    if existing is not None:
        raise APIError(
            409,
            f"Tag {record.name!r} exists (id {existing}).",
            errors={"name": ["Already exists."]},
            existing_id=existing,
        )
