"""Scheduled jobs: ``crm scheduler`` runs the ``crm_jobs`` of every plugin, one scheduler at a time.

Public API: ``collect_jobs(plugins)`` (the declared jobs), ``run_job(app, spec, source, now=None)``
(run one now, logged; a ``func`` taking an argument gets a ``JobContext`` whose clock is ``now``),
``run_scheduler(app)`` (the ``crm scheduler`` loop), ``prune_runs()``. A job acts as its
``JobActor`` (:mod:`crm_core.jobs.context`).
"""

from __future__ import annotations

from .registry import JobSpec, collect_jobs
from .runner import run_job
from .scheduler import build_scheduler, run_scheduler

__all__ = ["JobSpec", "build_scheduler", "collect_jobs", "run_job", "run_scheduler"]
