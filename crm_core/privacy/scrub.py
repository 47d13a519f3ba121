"""Scrub an erased person's values from the stores that copied them.

The erasure (``crm_core.privacy.erase_customer``) anonymises the records themselves; copies of
their values also sit in the event outbox (each event's data), webhook deliveries (the body sent,
the receiver's reply), queued or finished tasks (an import's file, an export's file, reports),
import wizard uploads, stored ``Idempotency-Key`` responses, automation runs and job run logs.
Each is scrubbed here, in the erasure's transaction:

- rows *linked* to the customer (events with its ``customer_id``, the deliveries of those
  events, automation runs for it) lose the person's fields (``PERSONAL_KEYS``) wholesale and
  every occurrence of the person's values;
- other rows (files and stored responses, which name no customer) lose every occurrence of the
  person's *identifying values* (``Needles``: name, phone, e-mail, contacts' details, custom field
  texts, ``MIN_LENGTH`` characters or more). A CSV file loses the lines that hold one; a file that
  cannot be edited as text (an XLSX workbook) is dropped from its finished task.

What is replaced becomes ``ERASED`` ("[erased]").
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from flask import current_app

from ..events.models import ConsumerProgress, OutboxEvent
from ..jobs.models import JobRun
from ..jobs.tasks import DONE, FAILED, Task
from ..records.import_store import ImportUpload
from ..records.models import IdempotencyKey
from ..webhooks.models import WebhookAttempt, WebhookDelivery

ERASED = "[erased]"
MIN_LENGTH = 3
#: keys whose values are the person's in a linked copy (an event's data, a delivery's body)
PERSONAL_KEYS = frozenset(
    {"name", "phone", "email", "gender", "birthday", "source_channel", "custom", "tags"}
    | {"subject", "body", "title", "description", "first_name", "last_name", "mobile", "address"}
)
_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")


def long_enough(value: str) -> bool:
    """Long enough to stand for a person: ``MIN_LENGTH`` characters, or two when not ASCII (王伟)."""
    return len(value) >= MIN_LENGTH or (len(value) >= 2 and not value.isascii())


def _pattern(values) -> re.Pattern | None:
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE) if ordered else None


class Needles:
    """The person's identifying values, matched case-insensitively inside any text.

    ``anchors`` (their phone numbers and e-mail addresses) also mark JSON objects as the
    person's: an object holding one loses its ``PERSONAL_KEYS`` whole (a stored response with
    their record, say), not only the matching text."""

    def __init__(self, values, anchors=()):
        found = {str(v).strip() for v in values if v is not None and long_enough(str(v).strip())}
        self.values = sorted(found, key=len, reverse=True)
        self.pattern = _pattern(found)
        self.anchor = _pattern({str(v).strip() for v in anchors if v and long_enough(str(v).strip())})

    def __bool__(self) -> bool:
        return self.pattern is not None

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds one of the values."""
        return bool(self.pattern and self.pattern.search(text))

    def text(self, text):
        """``text`` with every occurrence replaced by ``ERASED`` (non-text returned as is)."""
        if not isinstance(text, str) or self.pattern is None:
            return text
        return self.pattern.sub(ERASED, text)

    def data(self, data: Any, keys: frozenset = frozenset()) -> Any:
        """A JSON value scrubbed: string leaves scrubbed, values under ``keys`` erased whole."""
        if isinstance(data, dict):
            here = keys
            if self.anchor is not None and any(
                isinstance(v, str) and self.anchor.search(v) for v in data.values()
            ):
                here = keys | PERSONAL_KEYS  # the person's own record, copied
            return {k: (_erased(v) if k in here else self.data(v, keys)) for k, v in data.items()}
        if isinstance(data, list):
            return [self.data(v, keys) for v in data]
        return self.text(data)

    def blob(self, data: bytes | None) -> tuple[bytes | None, bool]:
        """``(new bytes, changed)`` of a file: a text file without the lines holding a value; a
        zip container (XLSX) holding a value becomes None (drop it)."""
        if not data or self.pattern is None:
            return data, False
        raw = bytes(data)
        if raw[:2] == b"PK":
            return (None, True) if self._in_zip(raw) else (raw, False)
        for encoding in _TEXT_ENCODINGS:
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            if not self.found_in(text):
                return raw, False
            kept = [line for line in text.splitlines(keepends=True) if not self.found_in(line)]
            out = "".join(kept).encode(encoding if encoding != "utf-8-sig" else "utf-8")
            if raw.startswith(b"\xef\xbb\xbf") and not out.startswith(b"\xef\xbb\xbf"):
                out = b"\xef\xbb\xbf" + out
            return out, True
        return raw, False

    def _in_zip(self, raw: bytes) -> bool:
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                return any(
                    self.found_in(archive.read(name).decode("utf-8", "replace"))
                    for name in archive.namelist()
                )
        except zipfile.BadZipFile:
            return False


def _erased(value):
    if value is None or isinstance(value, bool | int | float):
        return None
    if isinstance(value, dict):
        return {k: None for k in value}
    if isinstance(value, list):
        return []
    return ERASED


def _json_text(text: str | None, needles: Needles, keys: frozenset) -> str | None:
    """A text column scrubbed: as JSON when it is JSON (an escape such as ``\\u674e`` reads as
    the character it stands for, 李), else as text; the same object when nothing was found."""
    if not text:
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return needles.text(text)
    scrubbed = needles.data(data, keys)
    if scrubbed == data:
        return text
    return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":"))


def _events(customer_id: int, needles: Needles) -> tuple[int, list[str]]:
    linked = OutboxEvent.select().where(
        (OutboxEvent.customer_id == customer_id)
        | ((OutboxEvent.resource == "customers") & (OutboxEvent.record_id == str(customer_id)))
    )
    uids, count = [], 0
    for event in linked:
        uids.append(event.uid)
        data, meta = needles.data(event.data, PERSONAL_KEYS), needles.data(event.meta)
        error = needles.text(event.last_error)
        if (data, meta, error) != (event.data, event.meta, event.last_error):
            OutboxEvent.update(data=data, meta=meta, last_error=error).where(
                OutboxEvent.id == event.id
            ).execute()
            count += 1
    if needles:
        _text_rows(ConsumerProgress, ("last_error",), needles)
    return count, uids


def _deliveries(uids: list[str], needles: Needles) -> int:
    count = 0
    for start in range(0, len(uids), 500):
        batch = uids[start : start + 500]
        for delivery in WebhookDelivery.select().where(WebhookDelivery.message_id.in_(batch)):
            payload = _json_text(delivery.payload, needles, PERSONAL_KEYS)
            error = needles.text(delivery.last_error)
            if (payload, error) != (delivery.payload, delivery.last_error):
                WebhookDelivery.update(payload=payload, last_error=error).where(
                    WebhookDelivery.id == delivery.id
                ).execute()
                count += 1
            # the receiver's replies may echo what it was sent
            WebhookAttempt.update(response_body=None).where(
                WebhookAttempt.delivery == delivery.id, WebhookAttempt.response_body.is_null(False)
            ).execute()
    return count


def _tasks(needles: Needles) -> int:
    count = 0
    for task in Task.select():
        params, result, error = needles.data(task.params), needles.data(task.result), needles.data(task.error)
        changes = {}
        if (params, result, error) != (task.params, task.result, task.error):
            changes.update(params=params, result=result, error=error)
        for column in ("input_data", "output_data"):
            data, changed = needles.blob(getattr(task, column))
            if changed:
                if data is None and task.status not in (DONE, FAILED):
                    continue  # a running task keeps its workbook; it is dropped once finished
                changes[column] = data
                if data is None:  # the file is gone: the task no longer offers it
                    changes[column.replace("_data", "_name")] = ""
        if changes:
            Task.update(**changes).where(Task.id == task.id).execute()
            count += 1
    return count


def _uploads(needles: Needles) -> int:
    count = 0
    for upload in ImportUpload.select():
        data, changed = needles.blob(upload.data)
        if changed:
            if data is None:
                ImportUpload.delete().where(ImportUpload.id == upload.id).execute()
            else:
                ImportUpload.update(data=data).where(ImportUpload.id == upload.id).execute()
            count += 1
    return count


def _forms(needles: Needles) -> list[str]:
    """Each value as raw text and as it reads inside JSON written with escapes (李 as
    ``\\u674e``, what ``json.dumps`` writes by default)."""
    forms = set(needles.values)
    forms |= {json.dumps(v)[1:-1] for v in needles.values}
    return sorted(forms)


def _text_rows(model, columns, needles: Needles) -> int:
    """Scrub the text ``columns`` (plain or JSON) of the rows of ``model`` holding a value; SQL
    narrows the rows first (case-insensitive LIKE), so a big table is not read whole."""
    clause = None
    for form in _forms(needles):
        for column in columns:
            expr = getattr(model, column).contains(form)
            clause = expr if clause is None else (clause | expr)
    count = 0
    for row in model.select().where(clause).iterator():
        changes = {}
        for column in columns:
            value = getattr(row, column)
            scrubbed = _json_text(value, needles, frozenset()) if isinstance(value, str) else value
            if scrubbed != value:
                changes[column] = scrubbed
        if changes:
            model.update(**changes).where(model._meta.primary_key == row.get_id()).execute()
            count += 1
    return count


def _registered(table: str):
    """The model some capability registered (``crm_models``) for ``table``, or None. The
    automations capability is this one's sibling in the layers (neither imports the other), so
    its run log is found through the plugin manager, as a plugin's tables would be."""
    for models in current_app.extensions["crm"].plugins.hook.crm_models():
        for model in models or ():
            if model._meta.table_name == table:
                return model
    return None


def _automation_runs(model, customer_id: int, needles: Needles) -> int:
    count = 0
    for run in model.select().where(model.customer_id == customer_id):
        results, trace = needles.data(run.results, PERSONAL_KEYS), needles.data(run.trace, PERSONAL_KEYS)
        error = needles.text(run.error)
        if (results, trace, error) != (run.results, run.trace, run.error):
            model.update(results=results, trace=trace, error=error).where(model.id == run.id).execute()
            count += 1
    return count


def scrub_copies(customer_id: int, needles: Needles) -> dict[str, int]:
    """Scrub every store that copies customer data (see the module); returns counts per store."""
    events, uids = _events(customer_id, needles)
    counts = {"events": events, "webhook_deliveries": _deliveries(uids, needles)}
    runs = _registered("automation_run")
    if runs is not None:
        counts["automation_runs"] = _automation_runs(runs, customer_id, needles)
    if needles:
        counts["tasks"] = _tasks(needles)
        counts["import_uploads"] = _uploads(needles)
        counts["idempotency_keys"] = _text_rows(IdempotencyKey, ("body",), needles)
        counts["job_runs"] = _text_rows(JobRun, ("result", "error"), needles)
    return counts
