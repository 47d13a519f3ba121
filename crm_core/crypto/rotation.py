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

import peewee as pw
from flask import current_app

from ..db import database, is_postgres
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
    json_key: str | None = None  # the token is this key of the model's JSON ``custom`` column

    def write_many(self, moves: list[tuple]) -> set:
        """Compare-and-set a batch of ``(row id, old token, new token)``; the ids written. On
        PostgreSQL a plain column or a ``custom`` key is written by one statement for the batch
        (``UPDATE ... FROM (VALUES ...) RETURNING``), elsewhere row by row."""
        statement = self._bulk_statement(len(moves)) if moves and is_postgres() else None
        if statement is None:
            return {row_id for row_id, old, new in moves if self.write(row_id, old, new)}
        sql, before, after = statement
        params = [*before, *(part for move in moves for part in move), *after]
        return {row[0] for row in database.execute_sql(sql, params).fetchall()}

    def _bulk_statement(self, count: int):
        meta = self.model._meta
        if not isinstance(meta.primary_key, pw.AutoField | pw.BigAutoField | pw.IntegerField):
            return None

        def quote(name: str) -> str:
            return '"' + name.replace('"', '""') + '"'

        table, pk = quote(meta.table_name), quote(meta.primary_key.column_name)
        rows = ", ".join(["(%s::bigint, %s::text, %s::text)"] * count)
        source = f"FROM (VALUES {rows}) AS v(id, old, new) WHERE t.{pk} = v.id"
        if self.json_key is not None:
            col = quote(meta.fields["custom"].column_name)
            # a cleared token is JSON null: jsonb_set with SQL NULL would null the whole column
            setter = f"{col} = jsonb_set(t.{col}, ARRAY[%s], COALESCE(to_jsonb(v.new), 'null'::jsonb))"
            where = f"(t.{col} ->> %s) = v.old"
            return (
                f"UPDATE {table} AS t SET {setter} {source} AND {where} RETURNING t.{pk}",
                [self.json_key],
                [self.json_key],
            )
        if self.assign is None and isinstance(self.value, pw.Field):
            col = quote(self.value.column_name)
            sql = f"UPDATE {table} AS t SET {col} = v.new {source} AND t.{col} = v.old RETURNING t.{pk}"
            return sql, [], []
        return None

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
                moves = []
                for row_id, token, *extra in rows:
                    new = _resealed(token, store.context(row_id, *extra), active, progress)
                    if new is not _UNREADABLE:
                        moves.append((row_id, token, new))
                with database.atomic():
                    written = store.write_many(moves)
                for row_id, _token, new in moves:
                    if row_id not in written:
                        progress.changed_meanwhile += 1  # the compare-and-set found another value
                    elif new is None:
                        progress.cleared += 1
                    else:
                        progress.rewritten += 1
                after = rows[-1][0]
                if report:
                    report(store.name, progress)
    return progress


def _done(progress: Progress) -> int:
    return progress.rewritten + progress.changed_meanwhile + progress.cleared + progress.unreadable


#: what :func:`_resealed` answers for a token nothing can open
_UNREADABLE = object()


def _resealed(token: str, ctx: str, active: str, progress: Progress):
    """The token under the active key; None when its person was erased (it can never open
    again: cleared); ``_UNREADABLE`` (counted) when it was tampered with or its key is gone."""
    try:
        return reseal(token, ctx, active)
    except keyring.KeyRingError:
        subject = envelope.subject_of(token)
        if subject is None or keyring.has_subject_key(subject):
            progress.unreadable += 1  # its data key is gone: nothing to do but report it
            return _UNREADABLE
        return None
    except (ciphers.DecryptionError, ValueError):
        progress.unreadable += 1
        return _UNREADABLE


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
