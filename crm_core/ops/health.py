"""Health probes: ``/health/live`` (the process answers) and ``/health/ready`` (it can serve).

Ready means: the database answers, every migration of the core and the plugins is applied, and
the scheduler's heartbeat (:class:`crm_core.jobs.models.SchedulerHeartbeat`) is recent. With a
read replica (``DATABASE_REPLICA_URL``) its lag is reported too, as ``degraded`` when it does not
answer or lags too far: that never makes the instance unready, since its reads fall back to the
primary (taking every web process out of service for a replica would turn a slower report into
an outage). The
answers name each check and whether it passed, never a setting, a URL or an error text (the
error goes to the log): the probes are unauthenticated.
"""

from __future__ import annotations

import logging

from flask import current_app
from playhouse.migrations import Runner

from ..db import database, replica_health, utcnow
from ..jobs.models import SchedulerHeartbeat
from ..migrate import history_table, migration_sets

log = logging.getLogger(__name__)

OK, FAILING = "ok", "failing"


def check_database() -> str | None:
    """None when ``SELECT 1`` answers, else why not (for the log)."""
    try:
        database.execute_sql("SELECT 1")
        return None
    except Exception as exc:  # any driver error means "not reachable"; report, never raise
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def pending_migrations(app) -> list[str]:
    """``plugin:migration`` names not applied yet. Once none is pending the answer is kept for
    the process: migrations only arrive with new code, and new code means a restart."""
    crm = app.extensions["crm"]
    if app.extensions.get("crm_ops_migrated"):
        return []
    pending = []
    for name, directory in migration_sets(crm.plugins):
        runner = Runner(crm.db, directory=str(directory), table_name=history_table(name))
        pending += [f"{name}:{m.name}" for m in runner.status() if m.applied is None and m.path]
    if not pending:
        app.extensions["crm_ops_migrated"] = True
    return pending


def heartbeat_age() -> float | None:
    """Seconds since the scheduler's last heartbeat; None when it never beat."""
    row = SchedulerHeartbeat.get_or_none(SchedulerHeartbeat.id == 1)
    return None if row is None else max(0.0, (utcnow() - row.beat_at).total_seconds())


def readiness() -> tuple[bool, dict]:
    """``(ready, {"status": ..., "checks": {name: {"status": ok|failing, ...}}})``: the
    database, the migrations and the scheduler heartbeat (unless ``HEALTH_HEARTBEAT_MAX_AGE`` is
    0); the replica's state when one is set (informational). A check that cannot run because the
    database is away fails too."""
    app = current_app._get_current_object()
    checks: dict[str, dict] = {}
    problem = check_database()
    checks["database"] = {"status": FAILING if problem else OK}
    if problem:
        log.warning("ready: database unreachable: %s", problem)
        checks["migrations"] = {"status": FAILING, "reason": "database unreachable"}
    else:
        try:
            pending = pending_migrations(app)
            checks["migrations"] = {"status": FAILING, "pending": len(pending)} if pending else {"status": OK}
        except Exception as exc:  # a history table that cannot be read: not ready
            log.warning("ready: migrations not readable: %s", exc)
            checks["migrations"] = {"status": FAILING, "reason": "history unreadable"}
    max_age = app.config["HEALTH_HEARTBEAT_MAX_AGE"]
    if max_age > 0:
        checks["scheduler"] = _heartbeat_check(max_age, reachable=problem is None)
    replica = replica_health()
    ready = all(c["status"] == OK for c in checks.values())
    if replica is not None:
        checks["replica"] = replica
    return ready, {"status": OK if ready else FAILING, "checks": checks}


def _heartbeat_check(max_age: int, reachable: bool) -> dict:
    if not reachable:
        return {"status": FAILING, "reason": "database unreachable"}
    try:
        age = heartbeat_age()
    except Exception as exc:  # the table is missing before migrations: reported by that check too
        log.warning("ready: heartbeat not readable: %s", exc)
        return {"status": FAILING, "reason": "heartbeat unreadable"}
    if age is None:
        return {"status": FAILING, "reason": "no heartbeat yet (is crm scheduler running?)"}
    result = {"status": OK if age <= max_age else FAILING, "age_seconds": round(age, 1)}
    if age > max_age:
        result["reason"] = "heartbeat stale (is crm scheduler running?)"
    return result
