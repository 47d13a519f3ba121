"""The jobs the plugins declare through ``crm_jobs``, validated into ``JobSpec`` values.

A declaration is a dict (typed ``crm_core.types.JobSpec``); ``func`` takes the run's
``JobContext`` or no argument."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .context import required_positional

log = logging.getLogger(__name__)

# Keys of a crm_jobs item that are not trigger arguments.
_META_KEYS = {"id", "func", "trigger", "description", "misfire_grace_time"}


@dataclass
class JobSpec:
    """One declared job. ``error`` is set (and the job not scheduled) when the declaration is bad."""

    id: str
    plugin: str
    func: object = None
    trigger_kind: str = ""
    trigger_args: dict = field(default_factory=dict)
    description: str = ""
    misfire_grace_time: int = 60
    error: str | None = None

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger (UTC for cron)."""
        if self.trigger_kind == "cron":
            return CronTrigger(timezone=dt.UTC, **self.trigger_args)
        return IntervalTrigger(timezone=dt.UTC, **self.trigger_args)

    def as_dict(self) -> dict:
        """JSON-ready description (for ``/api/v1/jobs`` and ``crm jobs list``)."""
        return {
            "id": self.id,
            "plugin": self.plugin,
            "trigger": self.trigger_kind,
            "schedule": {k: str(v) for k, v in self.trigger_args.items()},
            "description": self.description,
            "error": self.error,
            "next_run_at": self.next_run_at(),
        }

    def next_run_at(self) -> dt.datetime | None:
        """The next time a cron job fires (UTC, naive); None for interval jobs, whose phase
        depends on when the scheduler started, and for misdeclared jobs."""
        if self.error or self.trigger_kind != "cron":
            return None
        fire = self.trigger().get_next_fire_time(None, dt.datetime.now(dt.UTC))
        return fire.astimezone(dt.UTC).replace(tzinfo=None) if fire else None


def _spec(plugin: str, item: dict) -> JobSpec:
    if not isinstance(item, dict):
        return JobSpec(id=f"{plugin}:?", plugin=plugin, error="a crm_jobs item must be a dict")
    spec = JobSpec(
        id=str(item.get("id") or f"{plugin}:?"),
        plugin=plugin,
        func=item.get("func"),
        trigger_kind=str(item.get("trigger", "")),
        trigger_args={k: v for k, v in item.items() if k not in _META_KEYS},
        description=str(item.get("description") or getattr(item.get("func"), "__doc__", "") or "").strip(),
        misfire_grace_time=int(item.get("misfire_grace_time", 60)),
    )
    spec.description = spec.description.splitlines()[0] if spec.description else ""
    problems = []
    if not item.get("id") or ":" not in spec.id:
        problems.append("id must be '<plugin>:<job>'")
    if not callable(spec.func):
        problems.append("func must be callable")
    elif required_positional(spec.func) > 1:
        problems.append("func must take one argument (the JobContext) or none")
    if spec.trigger_kind not in ("cron", "interval"):
        problems.append("trigger must be 'cron' or 'interval'")
    else:
        try:
            spec.trigger()
        except (TypeError, ValueError) as exc:
            problems.append(f"bad {spec.trigger_kind} arguments: {exc}")
    spec.error = "; ".join(problems) or None
    return spec


def collect_jobs(plugins) -> dict[str, JobSpec]:
    """Every job from every plugin's ``crm_jobs``, by id. A bad declaration is kept with its
    ``error`` (shown by the API and CLI) rather than stopping the scheduler; a duplicate id keeps
    the first plugin's job."""
    jobs: dict[str, JobSpec] = {}
    for plugin, items in plugins.calls("crm_jobs"):
        for item in items or []:
            spec = _spec(plugin, item)
            if spec.error:
                log.error("job %s of plugin %s is not scheduled: %s", spec.id, plugin, spec.error)
            if spec.id in jobs:
                log.error(
                    "job id %s declared twice (plugins %s, %s); keeping the first",
                    spec.id,
                    jobs[spec.id].plugin,
                    plugin,
                )
                continue
            jobs[spec.id] = spec
    return jobs
