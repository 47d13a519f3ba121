"""Tasks: long work (imports, large exports) queued by a request and run outside it.

A request that would take long (a 20,000-row import, an export of 50,000 customers) stores a
``task`` row (its kind, parameters, the uploaded file, who asked) and answers ``202 Accepted``
with ``Location: /api/v1/tasks/<id>``. The work is done by:

- the scheduler (``crm scheduler``, or the one ``crm run`` starts): the job ``core.jobs:tasks``
  claims queued tasks every ``TASK_POLL_SECONDS``, one at a time;
- and, when ``TASKS_RUN_IN_WEB`` is on, a thread of the web process started right after the
  request (single-process setups and tests need not wait for a scheduler tick).

Claiming is safe with both running: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL and, on
both backends, a guarded ``UPDATE task SET status='running' WHERE id=? AND status='queued'``
(only one claimer changes the row). A task runs as its creator (the same user, OAuth client and
scopes, and the request id and IP of the request that queued it, so audit entries read as they
did when the work ran inside that request). Progress (``phase``, ``done``/``total``) and a
heartbeat are written as the work goes; a running task whose heartbeat is older than
``STALE_SECONDS`` (its process died) is marked failed. Finished tasks (and their files) are
deleted after ``RETENTION_DAYS``.

Kinds map to handlers ``handler(ctx: TaskContext) -> dict`` (the result); a handler raises
``APIError`` for an error the creator should see (stored as the same JSON an API error has).
Plugins add kinds with :func:`register_kind`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
import threading
from dataclasses import dataclass, field

import peewee as pw
from flask import g, has_request_context, request

from ..auth import actor_for_user
from ..auth.models import User
from ..db import database, is_postgres, utcnow, write_transaction
from ..errors import APIError, error_payload

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
TASK_POLL_SECONDS = 2
STALE_SECONDS = 300
RETENTION_DAYS = 7


class Task(pw.Model):
    """One piece of long work: what, for whom, how far, and how it ended."""

    id = pw.AutoField()
    kind = pw.CharField(max_length=100)
    status = pw.CharField(max_length=10, default=QUEUED)
    params = pw.JSONField(default=dict)
    created_by = pw.IntegerField(index=True)
    client_id = pw.CharField(max_length=200, null=True)
    scopes = pw.JSONField(null=True)
    request_id = pw.CharField(max_length=128, null=True)
    ip = pw.CharField(max_length=64, null=True)
    phase = pw.CharField(max_length=20, default="")
    done = pw.IntegerField(default=0)
    total = pw.IntegerField(null=True)
    result = pw.JSONField(null=True)
    error = pw.JSONField(null=True)
    input_name = pw.CharField(max_length=255, default="")
    input_data = pw.BlobField(null=True)
    output_name = pw.CharField(max_length=255, default="")
    output_type = pw.CharField(max_length=100, default="")
    output_data = pw.BlobField(null=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)
    heartbeat_at = pw.DateTimeField(null=True)
    worker = pw.CharField(max_length=255, default="")

    class Meta:
        database = database
        table_name = "task"
        indexes = ((("status", "id"), False),)


#: every column but the stored files (lists and status reads never load them)
SUMMARY_FIELDS = [f for name, f in Task._meta.fields.items() if name not in ("input_data", "output_data")]

#: kind -> handler, or "module:function" resolved on first use (the scheduler process imports
#: the handler's module only when a task of that kind comes)
KINDS: dict[str, object] = {
    "customers.import": "crm_core.transfer.customers:import_task",
    "customers.export": "crm_core.transfer.customers:export_task",
    # any other collection: params name the resource and the path (API or workbench) it came by
    "records.import": "crm_core.transfer.tasks:import_task",
    "records.export": "crm_core.transfer.tasks:export_task",
}


def register_kind(kind: str, handler) -> None:
    """Declare a task kind: ``handler(ctx)`` returns the result dict (a plugin's long work)."""
    KINDS[kind] = handler


def _handler(kind: str):
    handler = KINDS.get(kind)
    if isinstance(handler, str):
        module, _, name = handler.partition(":")
        handler = KINDS[kind] = getattr(importlib.import_module(module), name)
    if handler is None:
        raise APIError(500, f"Unknown task kind {kind!r}.")
    return handler


@dataclass
class TaskContext:
    """What a handler gets: the task, its creator as an ``Actor``, and ways to report."""

    task: Task
    actor: object
    params: dict = field(default_factory=dict)

    @property
    def input_data(self) -> bytes:
        data = Task.select(Task.input_data).where(Task.id == self.task.id).scalar()
        return bytes(data) if data is not None else b""

    @property
    def input_name(self) -> str:
        return self.task.input_name

    def progress(self, done: int, total: int | None = None, phase: str | None = None) -> None:
        """Record progress (and the heartbeat). Inside the handler's transaction it commits with
        that transaction; outside, at once."""
        values = {Task.done: done, Task.heartbeat_at: utcnow()}
        if total is not None:
            values[Task.total] = total
        if phase is not None:
            values[Task.phase] = phase
        Task.update(values).where(Task.id == self.task.id).execute()

    def attach(self, name: str, media_type: str, data: bytes) -> None:
        """The task's downloadable file (``GET /api/v1/tasks/<id>/file``)."""
        Task.update(output_name=name[:255], output_type=media_type[:100], output_data=data).where(
            Task.id == self.task.id
        ).execute()


# --- queueing ------------------------------------------------------------------------------------


def enqueue(
    kind: str, actor, params: dict | None = None, input_data: bytes | None = None, input_name: str = ""
) -> Task:
    """Queue a task of ``kind`` for ``actor`` (committed when this returns); see :func:`start`."""
    in_request = has_request_context()
    with write_transaction():
        task = Task.create(
            kind=kind,
            params=params or {},
            created_by=actor.id,
            client_id=getattr(actor, "client_id", None),
            scopes=sorted(actor.scopes) if getattr(actor, "scopes", None) is not None else None,
            request_id=g.get("request_id") if in_request else None,
            ip=(request.remote_addr or "")[:64] if in_request else None,
            input_name=(input_name or "")[:255],
            input_data=input_data,
        )
    return task


def queue(
    kind: str, actor, params: dict | None = None, input_data: bytes | None = None, input_name: str = ""
) -> Task:
    """:func:`enqueue` then :func:`start` in the current app: what an endpoint that queues does."""
    from flask import current_app

    task = enqueue(kind, actor, params, input_data, input_name)
    start(current_app._get_current_object(), task)
    return task


def start(app, task: Task) -> None:
    """Run ``task`` now in a thread of this process when ``TASKS_RUN_IN_WEB`` is on (otherwise
    the scheduler picks it up within ``TASK_POLL_SECONDS``)."""
    if not app.config.get("TASKS_RUN_IN_WEB"):
        return
    thread = threading.Thread(target=run_task, args=(app, task.id), name=f"crm-task-{task.id}", daemon=True)
    thread.start()


def _worker_name(where: str) -> str:
    return f"{where} pid {os.getpid()} on {socket.gethostname()}"[:255]


def _claim(task_id: int, worker: str) -> bool:
    """Mark ``task_id`` running if it is still queued; True when this caller got it."""
    now = utcnow()
    claimed = (
        Task.update(status=RUNNING, started_at=now, heartbeat_at=now, worker=worker)
        .where(Task.id == task_id, Task.status == QUEUED)
        .execute()
    )
    return bool(claimed)


def claim_next(worker: str) -> int | None:
    """The id of the oldest queued task, now marked running for ``worker``; None when none."""
    with write_transaction():
        query = Task.select(Task.id).where(Task.status == QUEUED).order_by(Task.id).limit(1)
        if is_postgres():
            query = query.for_update(skip_locked=True)
        task_id = query.scalar()
        if task_id is None:
            return None
        return task_id if _claim(task_id, worker) else None


# --- running -------------------------------------------------------------------------------------


def _actor_of(task: Task):

    user = User.get_or_none(User.id == task.created_by)
    if user is None or not user.is_active:
        raise APIError(403, "The user who queued this task no longer exists or is deactivated.")
    return actor_for_user(user, client_id=task.client_id, scopes=task.scopes, token_id=None)


def error_json(exc: Exception) -> dict:
    """The stored error of a failed task: an ``APIError`` as its API answer would be; anything
    else as a 500 that names the exception type only (the traceback goes to the log)."""

    if isinstance(exc, APIError):
        body, _headers = error_payload(exc)
        return body
    return {
        "code": 500,
        "status": "Internal Server Error",
        "message": f"The task failed unexpectedly ({type(exc).__name__}); the server log has the details.",
        "errors": {},
    }


def run_task(app, task_id: int, worker: str | None = None, claimed: bool = False) -> bool:
    """Claim (unless ``claimed``) and run one task in a request context of its own that carries
    the creator's identity; True when this call ran it. Never raises for the task's errors."""
    worker = worker or _worker_name("web")
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            if not claimed:
                with write_transaction():
                    if not _claim(task_id, worker):
                        return False
            _execute(app, task_id)
            return True
        finally:
            if not database.in_transaction() and not database.is_closed():
                database.close()


def _execute(app, task_id: int) -> None:
    task = Task.select(*SUMMARY_FIELDS).where(Task.id == task_id).get()
    environ = {"REMOTE_ADDR": task.ip} if task.ip else {}
    with app.test_request_context(f"/api/v1/tasks/{task.id}", environ_base=environ):
        g.request_id = task.request_id or f"task-{task.id}"
        outcome, result, error = DONE, None, None
        try:
            actor = _actor_of(task)
            g.actor = actor
            result = _handler(task.kind)(TaskContext(task=task, actor=actor, params=dict(task.params or {})))
        except Exception as exc:  # any failure is the task's, stored for its creator
            if database.in_transaction():
                database.rollback()
            if not isinstance(exc, APIError) or exc.code >= 500:
                log.exception("task %s (%s) failed", task.id, task.kind)
            outcome, error = FAILED, error_json(exc)
        with write_transaction():
            # the uploaded file (personal data) is not kept once the work is done
            Task.update(
                status=outcome,
                result=result,
                error=error,
                finished_at=utcnow(),
                heartbeat_at=utcnow(),
                input_data=None,
            ).where(Task.id == task.id).execute()


def fail_stale(seconds: int = STALE_SECONDS) -> int:
    """Mark running tasks whose heartbeat is older than ``seconds`` (their process died) failed."""
    cutoff = utcnow() - dt.timedelta(seconds=seconds)
    return (
        Task.update(
            status=FAILED,
            finished_at=utcnow(),
            error={
                "code": 500,
                "status": "Internal Server Error",
                "message": "Interrupted: the process running this task stopped. Start it again.",
                "errors": {},
            },
        )
        .where(Task.status == RUNNING, Task.heartbeat_at < cutoff)
        .execute()
    )


def run_pending(app=None, limit: int | None = None) -> int:
    """The scheduler job: fail stale tasks, then run queued ones, oldest first, until none is left
    (or ``limit`` ran); returns how many ran."""
    from flask import current_app

    app = app or current_app._get_current_object()
    stale = fail_stale()
    if stale:
        log.warning("marked %d interrupted task(s) failed", stale)
    worker = _worker_name("scheduler")
    ran = 0
    while limit is None or ran < limit:
        task_id = claim_next(worker)
        if task_id is None:
            break
        run_task(app, task_id, worker=worker, claimed=True)
        ran += 1
    return ran


def prune_tasks(days: int = RETENTION_DAYS) -> int:
    """Delete finished tasks (and their files) older than ``days``."""
    cutoff = utcnow() - dt.timedelta(days=days)
    return Task.delete().where(Task.finished_at < cutoff, Task.status.in_([DONE, FAILED])).execute()
