"""The pull job (``core.conversations:pull``): every ``crm_conversation_sources`` source is
fetched from its stored cursor, its messages stored, and the cursor moved on in the same
transaction, so a cursor never passes messages that were not committed. A source that raises (or
returns malformed messages) keeps its cursor, has the error noted on its cursor row and logged,
and the other sources are still pulled."""

from __future__ import annotations

import logging
import re

from flask import current_app

from ..db import utcnow, write_transaction
from .models import CHANNELS, SourceCursor
from .schemas import SOURCE_RE, load_batch
from .store import ingest

log = logging.getLogger(__name__)

#: messages asked of a source per fetch, and fetches per source in one run (a backlog drains over
#: several runs rather than holding the scheduler)
BATCH = 100
MAX_BATCHES = 20


def sources() -> dict[str, dict]:
    """Every well-formed source by name, from every plugin's ``crm_conversation_sources`` (a
    malformed one, or a second source of the same name, is logged and left out)."""
    found: dict[str, dict] = {}
    declared = current_app.extensions["crm"].plugins.calls("crm_conversation_sources")
    for plugin, item in ((plugin, item) for plugin, items in declared for item in items or []):
        name = item.get("name") if isinstance(item, dict) else None
        problem = None
        if not isinstance(name, str) or not re.match(SOURCE_RE, name):
            problem = "name must be lower-case letters, digits, '.', '_', '-'"
        elif item.get("channel") not in CHANNELS:
            problem = f"channel must be one of {', '.join(CHANNELS)}"
        elif not callable(item.get("fetch")):
            problem = "fetch must be callable"
        elif name in found:
            problem = "another source has this name"
        if problem:
            log.error("conversation source %r of plugin %s is left out: %s", name, plugin, problem)
            continue
        found[name] = item
    return found


def pull_source(name: str, source: dict, actor, limit: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Pull one source until it has nothing new (or ``max_batches`` fetches); returns how many
    messages were stored. Raises what the source raised, after noting it on the cursor."""
    stored = 0
    for _ in range(max_batches):
        row = SourceCursor.get_or_none(SourceCursor.source == name)
        cursor = row.cursor if row is not None else None
        try:
            messages, next_cursor = source["fetch"](cursor, limit)
            messages = list(messages or [])
            batch = load_batch(name, source["channel"], messages) if messages else None
            with write_transaction():
                created = ingest(batch, actor)["created"] if batch is not None else 0
                _note(name, cursor=next_cursor, stored=created)
        except Exception as exc:
            _note(name, error=f"{type(exc).__name__}: {exc}")
            raise
        stored += created
        if not messages or len(messages) < limit or next_cursor == cursor:
            break
    return stored


def _note(name: str, cursor=None, stored: int = 0, error: str | None = None) -> None:
    """Record a pull on the source's cursor row: the new cursor and count, or the error (the
    cursor then stays)."""
    now = utcnow()
    row = SourceCursor.get_or_none(SourceCursor.source == name)
    if row is None:
        row = SourceCursor(source=name)
    if error is None:
        row.cursor = None if cursor is None else str(cursor)
        row.messages = (row.messages or 0) + stored
        row.last_error = None
    else:
        row.last_error = error[:2000]
    row.pulled_at = now
    row.save()


def pull_all(ctx) -> dict:
    """The job: pull every source; ``{source: stored count | "error: ..."}``. Fails (so the run
    log shows it) when every source failed."""
    results: dict = {}
    failed = 0
    for name, source in sources().items():
        try:
            results[name] = pull_source(name, source, ctx.actor)
        except Exception as exc:  # one broken archive must not stop the others
            ctx.log.exception("conversation source %s failed; its cursor stays", name)
            results[name] = f"error: {type(exc).__name__}: {exc}"
            failed += 1
    if results and failed == len(results):
        raise RuntimeError(f"every conversation source failed: {results}")
    return results
