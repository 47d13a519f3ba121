"""The retention policies the plugins declare, validated into :class:`Policy` values."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee as pw
from flask import current_app

#: rows deleted per transaction (short transactions: writers are never held up for long)
BATCH_SIZE = 2000
#: the longest retention a setting may ask for (100 years); the shortest is one day
MAX_DAYS = 36500


class RetentionError(ValueError):
    """A policy is misdeclared or its setting holds no valid number of days; the message names
    the policy and the setting."""


@dataclass(frozen=True)
class Policy:
    """One declared policy with its days resolved from the app's configuration.

    ``error`` is set (and the policy skipped by the job) when the declaration or the setting is
    bad; ``days`` and ``cutoff`` are then None.
    """

    name: str
    plugin: str
    model: Any = None
    field: Any = None
    where: Any = None
    setting: str | None = None
    days: int | None = None
    purge: Any = None
    error: str | None = None

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """Rows whose ``field`` is before this moment are due (``now`` minus the days)."""
        return now - dt.timedelta(days=self.days)

    def condition(self, cutoff: dt.datetime):
        """The WHERE expression of the rows due at ``cutoff`` (None without a ``field``)."""
        if self.field is None:
            return None
        bound = cutoff.date() if isinstance(self.field, pw.DateField) else cutoff
        cond = self.field < bound
        return cond if self.where is None else (cond & self.where)

    @property
    def source(self) -> str:
        """Where the days come from, for ``crm retention status``."""
        return self.setting or "default"


def _days(name: str, setting: str | None, default: Any, low: Any = 1, high: Any = MAX_DAYS) -> int:
    """The days of a policy: its setting's value when it names one, else ``default``; between
    ``low`` and ``high`` (the policy's ``min_days`` / ``max_days``)."""
    if setting is not None:
        if setting not in current_app.config:
            raise RetentionError(f"retention policy {name!r}: unknown setting {setting!r}")
        value, where = current_app.config[setting], setting
    else:
        value, where = default, "default_days"
    if isinstance(value, bool) or not isinstance(value, int):
        raise RetentionError(
            f"{where} (retention of {name!r}): expected a whole number of days, got {value!r}"
        )
    if not low <= value <= high:
        raise RetentionError(
            f"{where} (retention of {name!r}): must be between {low} and {high} days, got {value}"
        )
    return value


def _problems(item: dict) -> list[str]:
    problems = []
    model = item.get("model")
    if not (isinstance(model, type) and issubclass(model, pw.Model)):
        problems.append("model must be a peewee model")
    field = item.get("field")
    if field is not None and not isinstance(field, pw.Field):
        problems.append("field must be a peewee field (a timestamp column)")
    elif field is None and not callable(item.get("purge")):
        problems.append("give a field (a timestamp column) or a purge(cutoff) function")
    if item.get("purge") is not None and not callable(item["purge"]):
        problems.append("purge must be callable: purge(cutoff) -> int")
    if item.get("setting") is not None and not isinstance(item["setting"], str):
        problems.append("setting must be the name of a setting")
    if "default_days" not in item:
        problems.append("default_days is required")
    low, high = item.get("min_days", 1), item.get("max_days", MAX_DAYS)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not 1 <= low <= high:
        problems.append("min_days and max_days must be whole numbers with 1 <= min_days <= max_days")
    return problems


def _policy(plugin: str, item: Any) -> Policy:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        return Policy(name=f"{plugin}:?", plugin=plugin, error="a policy must be a dict with a name")
    name = item["name"]
    problems = _problems(item)
    if problems:
        return Policy(name=name, plugin=plugin, error=f"retention policy {name!r}: " + "; ".join(problems))
    try:
        days = _days(
            name,
            item.get("setting"),
            item["default_days"],
            item.get("min_days", 1),
            item.get("max_days", MAX_DAYS),
        )
    except RetentionError as exc:
        return Policy(name=name, plugin=plugin, setting=item.get("setting"), error=str(exc))
    return Policy(
        name=name,
        plugin=plugin,
        model=item["model"],
        field=item.get("field"),
        where=item.get("where"),
        setting=item.get("setting"),
        days=days,
        purge=item.get("purge"),
    )


def policies() -> list[Policy]:
    """Every plugin's ``crm_retention_policies``, validated against the current app's settings,
    by name; a bad one is kept with its ``error`` (shown by ``crm retention status``, reported by
    the job) rather than stopping the others. A duplicate name keeps the first loaded plugin's
    (a core capability's before any plugin's)."""
    out: dict[str, Policy] = {}
    manager = current_app.extensions["crm"].plugins
    # in load order (the core's capabilities first), not pluggy's call order: which of two
    # policies of one name is kept must not depend on registration details
    order = {name: i for i, name in enumerate(manager.plugin_names())}
    calls = sorted(manager.calls("crm_retention_policies"), key=lambda pair: order.get(pair[0], len(order)))
    for plugin, items in calls:
        for item in items or []:
            policy = _policy(plugin, item)
            if policy.name in out:
                other = out[policy.name].plugin
                policy = Policy(
                    name=f"{policy.name} ({plugin})",
                    plugin=plugin,
                    error=f"retention policy {policy.name!r} declared twice (plugins {other}, {plugin})",
                )
            out[policy.name] = policy
    return sorted(out.values(), key=lambda p: p.name)
