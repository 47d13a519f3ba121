"""Industry templates: object types and fields that plugins ship through ``crm_entities``.

A template is ``{"name", "version", "label"?, "objects": [{"name", "label", "description",
"fields": [...]}], "fields": [{"entity": "customers", "name", "type", ...}]}``. Applying is
idempotent and versioned: the applied version is recorded in ``metadata_template``; applying the
same version again changes nothing, a new version creates what is missing and updates the fields
the template itself created (through the same safe-change checks as the API). Fields or types
that someone created by hand with the same name are left alone and reported as ``kept``.
"""

from __future__ import annotations

import hashlib
import json

from flask import current_app

from ..db import database
from ..errors import APIError
from .definitions import create_field, update_field
from .fielddefs import get_field
from .models import AppliedTemplate, ObjectType
from .objects import create_type, type_exists


def available() -> list[tuple[str, dict]]:
    """``[(plugin name, template)]`` from every plugin's ``crm_entities`` hook."""
    out = []
    for plugin, templates in current_app.extensions["crm"].plugins.calls("crm_entities"):
        for template in templates or ():
            out.append((plugin, template))
    return out


def checksum(template: dict) -> str:
    """A digest of the template's content (shown by ``crm templates``)."""
    return hashlib.sha256(
        json.dumps(template, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def listing() -> list[dict]:
    """Every available template with the version applied to this database (None if never)."""
    applied = {row.name: row for row in AppliedTemplate.select()}
    rows = []
    for plugin, template in available():
        row = applied.get(template["name"])
        rows.append(
            {
                "name": template["name"],
                "version": str(template.get("version", "1")),
                "plugin": plugin,
                "applied_version": row.version if row else None,
                "objects": [o["name"] for o in template.get("objects", ())],
                "fields": [f"{f['entity']}.{f['name']}" for f in template.get("fields", ())],
            }
        )
    return rows


def _field_spec(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "entity"}


def _ensure_field(entity: str, spec: dict, source: str, report: dict) -> None:
    existing = get_field(entity, spec["name"])
    label = f"{entity}.{spec['name']}"
    if existing is None:
        create_field(entity, _field_spec(spec), source=source)
        report["created"].append(label)
    elif existing.source == source:
        changes = {k: v for k, v in _field_spec(spec).items() if k != "name"}
        update_field(entity, spec["name"], changes)
        report["updated"].append(label)
    else:
        report["kept"].append(label)


def apply(template: dict, plugin: str = "") -> dict:
    """Apply one template (one transaction); returns what was created, updated or kept.

    Raises ``APIError`` (422/409) when the template is malformed or would break stored data; then
    nothing of it is applied.
    """
    name = template.get("name")
    version = str(template.get("version", "1"))
    if not name:
        raise APIError(422, "A template needs a name.")
    report = {
        "template": name,
        "version": version,
        "status": "unchanged",
        "created": [],
        "updated": [],
        "kept": [],
    }
    with database.atomic():
        row = AppliedTemplate.get_or_none(AppliedTemplate.name == name)
        if row is not None and row.version == version:
            return report
        source = f"template:{name}"
        for obj in template.get("objects", ()):
            if not type_exists(obj["name"]):
                create_type(
                    obj["name"], label=obj.get("label"), description=obj.get("description", ""), source=source
                )
                report["created"].append(f"objects.{obj['name']}")
            elif ObjectType.get(ObjectType.name == obj["name"]).source != source:
                report["kept"].append(f"objects.{obj['name']}")
            for position, spec in enumerate(obj.get("fields", ())):
                _ensure_field(f"objects.{obj['name']}", {"position": position, **spec}, source, report)
        for spec in template.get("fields", ()):
            _ensure_field(spec["entity"], spec, source, report)
        digest = checksum(template)
        if row is None:
            AppliedTemplate.create(name=name, version=version, plugin=plugin, checksum=digest)
        else:
            row.version, row.plugin, row.checksum = version, plugin, digest
            row.save()
        report["status"] = "applied"
    return report


def apply_all(names: list[str] | None = None) -> list[dict]:
    """Apply every available template (or those named); call after migrations (``crm migrate``)."""
    reports = []
    wanted = set(names or ())
    found = set()
    for plugin, template in available():
        if wanted and template.get("name") not in wanted:
            continue
        found.add(template.get("name"))
        try:
            reports.append(apply(template, plugin))
        except APIError as exc:
            # say which plugin's template is at fault: migrate runs every plugin's
            raise APIError(
                exc.code,
                f"Template {template.get('name')!r} of plugin {plugin!r}: {exc.message}",
                errors=exc.data.get("errors"),
            ) from None
    missing = wanted - found
    if missing:
        raise APIError(404, f"No such template(s): {', '.join(sorted(missing))}.")
    return reports
