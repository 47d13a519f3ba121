"""What a job is given: its ``JobContext`` and the system actor its writes are audited as.

A job is system code the site installed, not a user: it acts as ``JobActor``, an actor with the
built-in ``admin`` role (a job's own code decides what it touches) and no user behind it. Its
writes through the write path read in the audit log as ``actor_name`` ``"job:<job id>"`` with
``client_id`` ``"job"``, and have no ``actor_id``; records it creates get no owner unless the job
gives one.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from dataclasses import dataclass

from ..auth import ADMIN_ROLE
from ..types import JobContext

JOB_CLIENT_ID = "job"


@dataclass(frozen=True)
class JobActor:
    """The system actor of one job (satisfies ``crm_core.types.Actor``; ``id`` and ``user`` are None)."""

    job_id: str
    roles: frozenset[str] = frozenset({ADMIN_ROLE})
    scopes: frozenset[str] | None = None
    client_id: str | None = JOB_CLIENT_ID
    id: None = None
    user: None = None
    department_id: None = None

    @property
    def username(self) -> str:
        """The name the audit log shows for the job's writes."""
        return f"job:{self.job_id}"

    @property
    def is_admin(self) -> bool:
        """True: the job acts with the built-in admin role."""
        return True

    def __repr__(self) -> str:
        return f"<JobActor {self.job_id}>"


def job_context(app, spec, run_id: int, source: str, now: dt.datetime) -> JobContext:
    """The context of one run of ``spec``."""
    return JobContext(
        app=app,
        job_id=spec.id,
        run_id=run_id,
        now=now,
        actor=JobActor(spec.id),
        source=source,
        log=logging.getLogger(f"crm.jobs.{spec.id}"),
    )


def required_positional(func) -> int:
    """How many positional parameters without a default ``func`` has (0 for a callable whose
    signature cannot be read, a builtin: it is called as before)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 0
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def takes_context(func) -> bool:
    """True when ``func`` has a required positional parameter (it is called as ``func(ctx)``);
    a ``func`` without one is called with no argument, as jobs were before contexts existed."""
    return required_positional(func) >= 1
