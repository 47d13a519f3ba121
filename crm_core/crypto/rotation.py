"""Where sealed values live, how many each data key still protects, and moving them to the
active key after ``crm keys rotate``.

Every place that stores envelope tokens is declared as a :class:`SealedValues` (the core's
encrypted custom fields, the conversation archive, a plugin's own column) through the
``crm_sealed_values`` hook. :func:`usage` counts tokens per key in each of them;
:func:`reencrypt` rewrites the tokens of ``decrypt_only`` keys under the active key, in batches,
each row by compare-and-set (``UPDATE ... WHERE id = ? AND value = <the token read>``): a value
written meanwhile by someone else is left alone (it is already under the active key), so nothing
is ever lost. Tokens of a person whose key was shredded are cleared: they could never open again.
:func:`retire_key` deletes a key's material only when no value uses it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from ..db import database
from . import ciphers, envelope, keyring
from .models import DataKey


@dataclass(frozen=True)
class SealedValues:
    """One place holding envelope tokens: rows of ``model`` whose ``value`` (a peewee expression
    giving the token's text: a column, or a key of a JSON column) holds a token opened with
    ``context(row_id, *extra)``, ``extra`` being the row's values of ``context_columns`` (none by
    default: a context made from the id alone). ``assign(new)`` is the ``model.update(...)``
    mapping that writes a new token (None: clear it); by default ``{value: new}`` for a plain
    column.

    ``history=True`` declares copies kept as history (audit images, event payloads: ``value`` is
    their JSON as text, holding tokens anywhere inside): they are counted, so retiring a key they
    need is a decision (``--force``), and never rewritten."""

    name: str
    model: Any
    value: Any
    context: Callable[..., str] | None = None
    assign: Callable[[str | None], dict] | None = None
    history: bool = False
    context_columns: tuple = ()

    def sealed_with(self, key_id: str):
        """The condition matching the tokens of data key ``key_id``."""
        if self.history:
            return self.value.contains(f"crm1.{key_id}.") | self.value.contains(f"crm1s.{key_id}.")
        return self.value.startswith(f"crm1.{key_id}.") | self.value.startswith(f"crm1s.{key_id}.")

    def write(self, row_id, old: str, new: str | None) -> bool:
        """Replace ``old`` by ``new`` in row ``row_id`` if it still holds ``old`` (compare-and-set)."""
        pk = self.model._meta.primary_key
        values = self.assign(new) if self.assign else {self.value: new}
        return bool(self.model.update(values).where(pk == row_id, self.value == old).execute())


def stores() -> list[SealedValues]:
    """Every declared place of sealed values (core and plugins)."""
    hook = current_app.extensions["crm"].plugins.hook
    return [store for batch in hook.crm_sealed_values() for store in (batch or [])]


def usage(history: bool = False) -> dict[str, dict[str, int]]:
    """``{key id: {store name: rows}}`` for every data key (zero counts left out): the live
    values, or with ``history`` the history copies."""
    out: dict[str, dict[str, int]] = {}
    chosen = [store for store in stores() if store.history == history]
    for key in DataKey.select(DataKey.key_id).order_by(DataKey.id):
        counts = {}
        for store in chosen:
            count = store.model.select().where(store.sealed_with(key.key_id)).count()
            if count:
                counts[store.name] = count
        out[key.key_id] = counts
    return out


def reseal(token: str, ctx: str, key_id: str | None = None) -> str:
    """The same plaintext, person and context sealed under ``key_id`` (default: the active key)."""
    plain = envelope.decrypt(token, ctx)
    return envelope.encrypt(plain, ctx, subject=envelope.subject_of(token), key_id=key_id)


@dataclass
class Progress:
    """What one :func:`reencrypt` run did, per outcome."""

    rewritten: int = 0
    changed_meanwhile: int = 0  # the compare-and-set found another value: left to its writer
    cleared: int = 0  # tokens of a shredded person
    unreadable: int = 0  # tampered tokens, left for an operator to look at

    def as_dict(self) -> dict:
        """The counts as a dict (a job run's result)."""
        return dict(self.__dict__)


def reencrypt(
    batch: int = 500, limit: int | None = None, report: Callable[[str, Progress], None] | None = None
) -> Progress:
    """Move the tokens of every ``decrypt_only`` key to the active key; at most ``limit`` rows
    (None: all). Each batch commits on its own, so a long run can be stopped and resumed."""
    progress = Progress()
    old_keys = [k.key_id for k in DataKey.select().where(DataKey.state == "decrypt_only")]
    if not old_keys:
        return progress
    active = keyring.active_key().key_id
    for store in (s for s in stores() if not s.history):
        pk = store.model._meta.primary_key
        for key_id in old_keys:
            after = None
            while limit is None or _done(progress) < limit:
                columns = (pk, store.value.alias("token"), *store.context_columns)
                query = store.model.select(*columns).where(store.sealed_with(key_id))
                if after is not None:
                    query = query.where(pk > after)
                rows = list(query.order_by(pk).limit(batch).tuples())
                if not rows:
                    break
                with database.atomic():
                    for row_id, token, *extra in rows:
                        _move(store, row_id, token, store.context(row_id, *extra), active, progress)
                after = rows[-1][0]
                if report:
                    report(store.name, progress)
    return progress


def _done(progress: Progress) -> int:
    return progress.rewritten + progress.changed_meanwhile + progress.cleared + progress.unreadable


def _move(store: SealedValues, row_id, token: str, ctx: str, active: str, progress: Progress) -> None:
    try:
        new = reseal(token, ctx, active)
    except keyring.KeyRingError:
        subject = envelope.subject_of(token)
        if subject is None or keyring.has_subject_key(subject):
            progress.unreadable += 1  # its data key is gone: nothing to do but report it
            return
        new = None  # the person was erased: the token can never open again
    except (ciphers.DecryptionError, ValueError):
        progress.unreadable += 1
        return
    if not store.write(row_id, token, new):
        progress.changed_meanwhile += 1
    elif new is None:
        progress.cleared += 1
    else:
        progress.rewritten += 1


def retire_key(key_id: str, force: bool = False) -> dict:
    """Delete the material of ``decrypt_only`` key ``key_id`` when no value uses it; raises
    ``KeyRingError`` naming what still does. Copies in the audit log and outbox (history) block
    it too unless ``force``: they stop opening."""
    live = usage().get(key_id)
    if live is None:
        raise keyring.KeyRingError(f"no data key {key_id!r}")
    if live:
        raise keyring.KeyRingError(
            f"{key_id} still protects {json.dumps(live)}: run crm keys reencrypt first"
        )
    history = usage(history=True).get(key_id) or {}
    if history and not force:
        raise keyring.KeyRingError(
            f"{key_id} still opens history copies {json.dumps(history)}; --force makes them unreadable"
        )
    keyring.retire(key_id)
    return history
