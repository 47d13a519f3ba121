"""Bearer tokens resolved once per worker, behind the permission revision.

Resolving a token is the join of ``auth.token_actor`` (the token, its user, the user's roles) and
the building of their rows: a third of a detail request's time. A worker keeps what it resolved,
keyed by the token's hash and the nonce of the permission revision read in the same statement
(``crm_core.permissions.revision``). The revision's triggers fire, in the change's own
transaction, on everything that could alter what was resolved: the token's revocation, expiry,
scopes or owner and its deletion (``access_token``), any change to its user, the user's roles
and the roles themselves. A token met again then costs one small statement (the request stamps,
:func:`crm_core.stamps.read_all`) and is never used once the revision moved. What passes with
time alone, expiry, is checked on every request.

Each request gets its own copy of the user, so nothing one request does to it reaches another.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from ..db import database
from .models import User

#: tokens kept per worker; beyond it the oldest half goes
MAX_TOKENS = 10_000


@dataclass
class Resolved:
    """What a token resolved to, under the revision ``nonce``."""

    nonce: str
    user: dict  # the user row's ``__data__``
    roles: tuple[str, ...]
    token_id: int
    scopes: list[str] | None
    client_id: str | None
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def new_user(self) -> User:
        """A fresh ``User`` of this row for one request (as peewee builds one from a row)."""
        user = User(__no_default__=1)
        user.__data__ = dict(self.user)
        return user


_kept: dict[tuple, Resolved] = {}
_lock = threading.Lock()


def _key(digest: str) -> tuple:
    return (id(database.obj), digest)  # two apps in one process: each its own database's


def lookup(digest: str) -> Resolved | None:
    """What the token hashed ``digest`` resolved to last in this worker (its revision unchecked)."""
    return _kept.get(_key(digest))


def keep(digest: str, resolved: Resolved) -> None:
    """Remember what the token hashed ``digest`` resolved to."""
    with _lock:
        if len(_kept) >= MAX_TOKENS:
            for old in list(_kept)[: MAX_TOKENS // 2]:
                _kept.pop(old, None)
        _kept[_key(digest)] = resolved


def forget(digest: str) -> None:
    """Drop the token hashed ``digest`` (expired, or resolved under an older revision)."""
    _kept.pop(_key(digest), None)
