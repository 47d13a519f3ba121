"""The permission revision: what lets a worker keep grants, field rules and department paths
across requests without ever serving a right that was taken away.

One row, ``permission_revision`` (``number``, ``nonce``), changes in the very transaction that
changes a user's roles, department or active flag, a role, a grant, a field rule, a department or
a custom field definition: database triggers do it (migration ``0003_revision``, and the custom
fields' ``0003_permission_revision``), so no write path, CLI command, plugin migration or hand-run
SQL can forget. ``nonce`` is random at every change: a revision number can come back (a restored
backup, a rolled-back change), a nonce does not, and the cache is keyed by it.

A request reads the nonce once (a request stamp, :mod:`crm_core.stamps`: on an API call it comes
with the bearer-token lookup's own statement, elsewhere as one indexed single-row read on the
first permission question), and :func:`request_cache` answers from the worker's cache of that
revision. A value missed is computed from the database and shared only if
the revision is still the one the request read: inside a transaction that itself changed
permissions (its own trigger moved the nonce) nothing is shared, so a change rolled back leaves
nothing behind. ``permissions.invalidate()`` makes the request read the revision again.

What is shared is keyed by role names and department ids, never by an actor: the actor (roles,
department, scopes) is read with its token on every request, and a ``View`` stays per request.
"""

from __future__ import annotations

import threading

import peewee as pw
from flask import g, has_request_context

from .. import stamps
from ..db import database
from ..prepared import Prepared

#: the kinds of request-cache entries that depend only on the revised tables (see the module)
SHARED_KINDS = frozenset({"grants", "fields", "path"})
#: revisions kept per worker (two apps on two databases in one process each keep theirs)
KEPT_REVISIONS = 4
#: entries kept per revision before it is emptied (role sets x resources is small in practice)
MAX_ENTRIES = 20_000


class PermissionRevision(pw.Model):
    """The one row whose ``nonce`` changes with every change to what permissions are made of."""

    id = pw.IntegerField(primary_key=True)
    number = pw.BigIntegerField(default=0)
    nonce = pw.CharField(max_length=32, default="")

    class Meta:
        database = database
        table_name = "permission_revision"


_CURRENT = Prepared(
    lambda: (
        PermissionRevision.select(PermissionRevision.number, PermissionRevision.nonce)
        .where(PermissionRevision.id == 1)
        .tuples()
    )
)

#: the request stamp that carries the nonce (:mod:`crm_core.stamps`)
STAMP = stamps.PERMISSIONS
stamps.register(
    STAMP, lambda: PermissionRevision.select(PermissionRevision.nonce).where(PermissionRevision.id == 1)
)

_shared: dict[str, dict] = {}  # nonce -> {key: value}, insertion-ordered: oldest first
_lock = threading.Lock()


def current() -> tuple[int, str] | None:
    """``(number, nonce)`` as this connection sees it now (inside a transaction: with its own
    uncommitted changes); None when the row is missing."""
    rows = _CURRENT.rows()
    return (int(rows[0][0]), rows[0][1]) if rows else None


def _entries(nonce: str) -> dict:
    entries = _shared.get(nonce)
    if entries is None:
        with _lock:
            entries = _shared.setdefault(nonce, {})
            while len(_shared) > KEPT_REVISIONS:
                _shared.pop(next(iter(_shared)))
    return entries


class RequestCache(dict):
    """A request's permission cache that falls back to the worker's cache of the revision the
    request read (for ``SHARED_KINDS`` keys) and offers what it computes to it."""

    def __init__(self):
        super().__init__()
        self.revision: str | None | bool = False  # the nonce; False: not read yet

    def _nonce(self) -> str | None:
        if self.revision is False:
            self.revision = stamps.value(STAMP)
        return self.revision or None

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        if key[0] not in SHARED_KINDS or (nonce := self._nonce()) is None:
            return False
        entries = _entries(nonce)
        if key in entries:
            dict.__setitem__(self, key, entries[key])
            return True
        return False

    def __getitem__(self, key):
        if not dict.__contains__(self, key):
            self.__contains__(key)  # copies the worker's entry in, when it has one
        return dict.__getitem__(self, key)

    def __setitem__(self, key, value) -> None:
        dict.__setitem__(self, key, value)
        if key[0] not in SHARED_KINDS or (nonce := self._nonce()) is None:
            return
        # inside a transaction, share only what this transaction has not changed: a change of
        # its own moved the nonce (the trigger), and it might still be rolled back
        if database.in_transaction() and stamps.fresh(STAMP) != self.revision:
            return
        entries = _entries(nonce)
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = value


def request_cache() -> dict:
    """The permission cache of the current request (a fresh dict outside a request: jobs and
    the CLI ask the database every time)."""
    if not has_request_context():
        return {}
    cache = g.get("_crm_perm_cache")
    if cache is None:
        cache = g._crm_perm_cache = RequestCache()
    return cache


def forget_worker_cache() -> None:
    """Drop every revision this worker keeps (tests; never needed for correctness)."""
    with _lock:
        _shared.clear()


MODELS = [PermissionRevision]
