"""Request stamps: single-row version values a request reads once, with its first statement.

Caches that live across requests (the grants behind the permission revision, the custom field
definitions behind ``metadata_state.version``) each need one small read per request to know
whether they are still current. Each read is a round trip of its own, and on a detail request
they were half of the statements. A module that owns such a value registers it here with the
one-value subquery that reads it; the bearer-token lookup (``crm_core.auth``), which runs first
on every API call, selects every registered stamp as extra columns of its own statement and
hands them over with :func:`prime`. Elsewhere (a session request, a job, the CLI) :func:`value`
reads a stamp on its own when it is first asked for.

The stamps of a request are read together, in one snapshot with the actor's token and roles.
A request that changes what a stamp versions calls :func:`forget`, and its next question reads
the stamp again (inside its own transaction, with its own change).

A request whose token this worker already resolved need not read them first at all
(:func:`assume`, on PostgreSQL): it takes the values this worker read last (and its probes as
finding nothing), and a check that the database agrees travels in front of its first statement,
in the same round trip (``pgpool.PooledPostgres.expect``). When the check fails, that statement
fails before anything of the request was written, and the request is run again from the start,
reading its stamps (:func:`run_again`, ``crm_core.app``): nothing it answers or writes comes
from values the database no longer holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import peewee as pw
from flask import g, has_request_context, request

from .db import database
from .pgpool import ExpectationFailed
from .prepared import Prepared, Slot

#: the permission revision's nonce (``crm_core.permissions.revision``), which also versions what a
#: bearer token resolves to (``crm_core.auth.token_cache``)
PERMISSIONS = "permission_revision"

#: name -> (builder of a query selecting one row with the stamp as its one column, its Prepared)
_REGISTERED: dict[str, tuple[Callable[[], pw.SelectQuery], Prepared]] = {}
#: id(database) -> the stamps as this worker read them last there, committed (what :func:`assume`
#: takes; per database, for a process that serves more than one app, as tests do)
_LAST: dict[int, dict[str, object]] = {}
#: what a failed check's error says (a value no integer parses from, so nothing else says it)
STALE = "crm_stale_stamps"
_CHECKS: dict[tuple, tuple] = {}  # (stamp names, probe names) -> the check's SQL and parameters


def register(name: str, build: Callable[[], pw.SelectQuery]) -> None:
    """Register the stamp ``name``: ``build()`` returns a query selecting the one value (one row,
    one column; no row reads as None). Call at import time, before the first request."""
    _REGISTERED[name] = (build, Prepared(lambda: build().tuples()))


def columns() -> list:
    """Every registered stamp as a scalar subquery aliased ``stamp_<name>``, for a statement that
    carries them (the token lookup); its caller passes the values to :func:`prime`."""
    return [build().alias(f"stamp_{name}") for name, (build, _) in _REGISTERED.items()]


#: name -> (builder of a one-value query with ``slot`` values, values_of(user_id) -> slots | None)
_PROBES: dict[str, tuple[Callable[[], pw.SelectQuery], Callable[[int], dict | None]]] = {}
_ALL: dict[tuple, Prepared] = {}  # (stamp names, probe names) -> the statement reading them all


def register_probe(
    name: str, build: Callable[[], pw.SelectQuery], values_of: Callable[[int], dict | None]
) -> None:
    """Register the probe ``name``: a one-value lookup that a request which needs it answers in
    its stamps' statement (:func:`read_all`) rather than in a round trip of its own, e.g. "is
    this Idempotency-Key stored?". ``build()`` returns the query with :func:`~crm_core.prepared.slot`
    values (names unique across probes); ``values_of(user_id)`` gives them for the current
    request and its user, or None when the request does not need the probe. Read the answer
    with :func:`probed`. Call at import time."""
    _PROBES[name] = (build, values_of)


def read_all(user_id: int | None = None) -> None:
    """Read every registered stamp in one statement and keep them for this request (a request
    that needs its stamps without the token lookup's statement: a token already resolved), with
    the probes this request of ``user_id`` needs (:func:`register_probe`)."""
    registered = tuple(_REGISTERED)
    probes: dict[str, dict] = {}
    if user_id is not None:
        for name, (_build, values_of) in _PROBES.items():
            values = values_of(user_id)
            if values is not None:
                probes[name] = values
    key = (registered, tuple(probes))
    prepared = _ALL.get(key)
    if prepared is None:
        extra = [_PROBES[name][0]().alias(f"probe_{name}") for name in probes]
        prepared = _ALL[key] = Prepared(
            lambda: pw.Select(columns=[*columns(), *extra]).bind(database).tuples()
        )
    slots = {slot: value for values in probes.values() for slot, value in values.items()}
    row = prepared.execute(**slots).fetchone()  # (plain values: no conversion to ask peewee for)
    prime(dict(zip(registered, row, strict=False)), committed=not database.in_transaction())
    prime({f"probe:{name}": value for name, value in zip(probes, row[len(registered) :], strict=True)})


def probed(name: str) -> tuple[bool, object]:
    """``(True, value)`` when this request's stamps' statement answered the probe ``name``, else
    ``(False, None)``: ask the database yourself."""
    held = _held()
    if held is None or f"probe:{name}" not in held:
        return False, None
    return True, held[f"probe:{name}"]


def names() -> list[str]:
    """The registered stamp names, in :func:`columns` order."""
    return list(_REGISTERED)


def _held() -> dict | None:
    """This request's stamps (None outside a request). Keyed by the request object and the bound
    database too: tests reuse one app context (and ``g``) across requests and apps."""
    if not has_request_context():
        return None
    owner = (request._get_current_object(), id(database.obj))
    held = g.get("_crm_stamps")
    if held is None or held[0] != owner:
        held = g._crm_stamps = (owner, {})
    return held[1]


def prime(values: dict[str, object], committed: bool = False) -> None:
    """Record stamps read by another statement of this request (``{name: value}``);
    ``committed``: read outside a transaction, so other requests of this worker may
    :func:`assume` them."""
    held = _held()
    if held is not None:
        held.update(values)
    if committed:
        last = _LAST.setdefault(id(database.obj), {})
        last.update((name, v) for name, v in values.items() if name in _REGISTERED)


def assume(values: dict[str, object], user_id: int | None) -> bool:
    """Take ``values``, and for every other stamp the value this worker read last, as this
    request's stamps without reading them, and every probe the request needs as answered "no
    row" (an Idempotency-Key not stored); the check that the database agrees goes with the
    request's first statement (see the module). True when assumed; False when this request
    must :func:`read_all` instead: not PostgreSQL's pool, run again already, a stamp never read
    in this worker, or a body that may not be read twice (a run again reads a JSON body from
    Flask's cache; a form or an upload is a stream)."""
    db = database.obj
    if (
        not has_request_context()
        or g.get("_crm_stamps_read")
        or not hasattr(db, "expect")
        or not _body_rereadable()
    ):
        return False
    assumed = {**_LAST.get(id(db), {}), **values}
    if any(name not in assumed for name in _REGISTERED):
        return False
    probes = {}
    for name, (_build, values_of) in _PROBES.items():
        slots = values_of(user_id) if user_id is not None else None
        if slots is not None:
            probes[name] = slots
    prime({name: assumed[name] for name in _REGISTERED})
    prime({f"probe:{name}": None for name in probes})
    db.expect(_check(db, assumed, probes), STALE)
    return True


def _body_rereadable() -> bool:
    """True when running the request again reads the same body: none, or JSON (cached)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return True
    return not request.content_length or request.mimetype == "application/json"


def _check(db, assumed: dict, probes: dict[str, dict]) -> str:
    """The statement that fails (naming :data:`STALE`) unless every stamp is as ``assumed`` and
    every probe in ``probes`` (name -> its slot values) finds no row."""
    key = (tuple(_REGISTERED), tuple(probes))
    compiled = _CHECKS.get(key)
    if compiled is None:
        parts, params = [], []
        for name, (build, _prepared) in _REGISTERED.items():
            text, values = db.get_sql_context().sql(build()).query()
            parts.append(f"({text}) IS NOT DISTINCT FROM %s")
            params.extend([*values, _Stamp(name)])
        for name in probes:
            text, values = db.get_sql_context().sql(_PROBES[name][0]()).query()
            parts.append(f"({text}) IS NULL")
            params.extend(values)
        template = f"SELECT CAST(CASE WHEN {' AND '.join(parts)} THEN '1' ELSE '{STALE}' END AS integer)"
        compiled = _CHECKS[key] = (template, params)
    template, params = compiled
    slots = {slot: value for values in probes.values() for slot, value in values.items()}
    bound = [
        assumed[p.name] if isinstance(p, _Stamp) else slots[p.name] if isinstance(p, Slot) else p
        for p in params
    ]
    return db.render(template, bound)


class _Stamp:
    """Stands in a check's parameters for the assumed value of the stamp ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def stale() -> bool:
    """True when this request answered from stamps it assumed and the database no longer holds
    (the check failed, whether or not the error reached the caller): run it again. Sends the
    check first if none of its statements carried it."""
    db = database.obj
    if not hasattr(db, "confirm"):
        return False
    with contextlib.suppress(ExpectationFailed):  # (remembered: failed_expectation says so)
        db.confirm()
    return db.failed_expectation()


def discarded() -> bool:
    """True while this request's answer will be thrown away, its assumed stamps found stale
    (the metrics and the request log leave it out: the request's run again is what counts)."""
    db = database.obj
    return hasattr(db, "failed_expectation") and db.failed_expectation(clear=False)


def run_again() -> None:
    """Before a stale request runs again: its stamps are read this time, not assumed."""
    g._crm_stamps_read = True
    g.pop("_crm_stamps", None)


def value(name: str):
    """The stamp ``name`` for this request: as primed or read earlier in it, else read now (and
    kept for the rest of the request). Outside a request, read every time."""
    held = _held()
    if held is not None and name in held:
        return held[name]
    found = fresh(name)
    if held is not None:
        held[name] = found
    return found


def fresh(name: str):
    """The stamp ``name`` as this connection sees it now (in a transaction: with its own changes)."""
    rows = _REGISTERED[name][1].rows()
    return rows[0][0] if rows else None


def forget(name: str) -> None:
    """This request changed what ``name`` versions: its next :func:`value` reads it again."""
    held = _held()
    if held is not None:
        held.pop(name, None)
