"""Types of the values hooks receive and return: the typed half of the plugin contract.

``crm_core.hookspecs`` annotates every hook with these. They are structural (``Protocol``,
``TypedDict``) so a plugin can type its hook implementations, and its tests can pass stand-ins,
without depending on how the core builds the values:

- ``Actor``: who acts (``crm_core.auth.Actor`` satisfies it);
- ``Change``: one write, given to ``crm_record_written`` (the dataclass of ``crm_core.changes``);
- ``Event``: one committed domain event, given to ``crm_event`` (the dataclass of
  ``crm_core.events``);
- ``DemoContext``: what ``crm_demo_data`` is given (the demo's locale, users, departments and
  customers, and a seeded random generator);
- ``JobContext``: what a job's ``func`` is given when it takes an argument (the app, the run's
  clock ``now``, the jobs' system actor, a logger);
- ``PermissionSpec``, ``JobSpec``, ``ActionSpec``, ``NavEntry``, ``EntityTemplate``,
  ``ConversationSource``, ``KeyWrapper``, ``RetentionPolicy``: the items that ``crm_permissions``,
  ``crm_jobs``, ``crm_actions``, ``crm_nav``, ``crm_entities``, ``crm_conversation_sources``,
  ``crm_key_wrappers`` and ``crm_retention_policies`` return. They are ``TypedDict`` s, so a plain dict is one: code written before the types keeps
  working, and a type checker checks the keys of code written with them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from .changes import Change, Event

__all__ = [
    "ActionSpec",
    "Actor",
    "Change",
    "ConversationSource",
    "DemoContext",
    "EntityTemplate",
    "Event",
    "JobContext",
    "JobSpec",
    "KeyWrapper",
    "NavEntry",
    "PermissionSpec",
    "RetentionPolicy",
]


@runtime_checkable
class Actor(Protocol):
    """Who performs a request, a job or an automation: a user with roles, possibly acting through
    an OAuth2 client whose ``scopes`` further restrict what the user may do (``None``: a first-party
    token, no restriction)."""

    @property
    def id(self) -> int:
        """The user's id."""
        ...

    @property
    def department_id(self) -> int | None:
        """The user's department (None: none)."""
        ...

    @property
    def user(self) -> Any:
        """The ``crm_core.auth`` ``User`` row."""
        ...

    @property
    def roles(self) -> frozenset[str]:
        """Names of the user's roles."""
        ...

    @property
    def scopes(self) -> frozenset[str] | None:
        """OAuth2 scopes of the client acting for the user, or None."""
        ...

    @property
    def client_id(self) -> str | None:
        """The OAuth2 client acting for the user, or None."""
        ...

    @property
    def is_admin(self) -> bool:
        """True for the built-in admin role without a scope restriction."""
        ...


class PermissionSpec(TypedDict, total=False):
    """One item of ``crm_permissions``: a resource and its actions."""

    resource: str  # required: "loyalty.points"
    actions: list[str]  # required: ["read", "adjust"]
    label: str
    sensitive: bool


@dataclass(frozen=True)
class JobContext:
    """What a job is given: ``func(ctx)`` for a ``func`` with a required positional parameter.

    ``now`` is the run's clock (naive UTC, as every column stores time): the time the run started,
    or the time ``crm jobs run --at`` asked for, so a job that computes with it can be run as of
    any moment (tests, back-fills). ``actor`` is the jobs' system actor (``crm_core.jobs.context.JobActor``): the
    job's writes through the write path are audited with ``actor_name`` ``"job:<job id>"`` and
    ``client_id`` ``"job"``. ``source`` says who started the run (``schedule``, ``cli``, ``api``),
    ``run_id`` is its ``job_run`` row, ``log`` a logger named for the job.
    """

    app: Any  # the Flask app; the job already runs inside its app context
    job_id: str
    run_id: int
    now: dt.datetime
    actor: Actor
    source: str
    log: logging.Logger


class JobSpec(TypedDict, total=False):
    """One item of ``crm_jobs`` (besides the trigger's own arguments: ``minute``, ``seconds``...)."""

    id: str  # required: "<plugin>:<job>"
    func: Callable[[JobContext], Any] | Callable[[], Any]  # required: func(ctx), or func()
    trigger: Literal["cron", "interval"]  # required
    description: str
    misfire_grace_time: int


class ActionSpec(TypedDict, total=False):
    """One item of ``crm_actions``: an automation action."""

    name: str  # required: "<plugin>.<verb>"
    label: str
    schema: Any  # a marshmallow Schema (class or instance) validating the rule's params
    run: Callable[[dict, Any, Any], Any]  # required: run(params, event, customer)


class NavEntry(TypedDict, total=False):
    """One item of ``crm_nav``: a menu entry, dashboard panel or customer panel."""

    label: str
    endpoint: str
    args: dict
    permission: str | list[str] | None
    order: int
    kind: Literal["menu", "dashboard", "customer_panel"]
    template: str
    # panels: extra template variables, computed only when the panel renders for a viewer allowed
    # to see it; called with the arguments it names among the panel's context (for a customer
    # panel: customer, actor, data), returns a dict
    template_vars: Callable[..., dict]


class EntityTemplate(TypedDict, total=False):
    """One item of ``crm_entities``: an industry template of object types and custom fields."""

    name: str  # required
    version: int  # required
    objects: list[dict]
    fields: list[dict]


@dataclass
class DemoContext:
    """What ``crm demo-data`` has made before it asks plugins for theirs.

    ``locale`` is the language the demo is written in (``"zh_CN"`` or ``"en"``: names, labels,
    seeded reference data). ``admin`` is the first admin's actor (for writes through the write
    path that need one); ``users`` maps a role name (``"sales"``, ``"manager"``, ...) to user ids;
    ``departments`` maps a department name to its id; ``customers`` holds the ids of the demo
    customers; ``random`` is seeded so two runs make the same demo.

    ``audit`` is True for ``crm demo-data --audit``: the core then reports every customer and
    record it inserts in bulk as a ``create`` (one audit entry each, batched, and no outbox event:
    seed data must not fire webhooks or automations). A plugin may honour it for what it inserts
    in bulk: inside ``batched()``, one ``record_written("create", ..., extra={"source": "demo",
    "event": False})`` per row (``crm_core.plugin_api``); what it writes through the write path is
    audited either way.
    """

    locale: str
    admin: Actor | None
    users: dict[str, list[int]] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    customers: list[int] = field(default_factory=list)
    random: random.Random = field(default_factory=lambda: random.Random(0))
    audit: bool = False


class ConversationSource(TypedDict, total=False):
    """One item of ``crm_conversation_sources``: where archived conversations are pulled from.

    ``fetch(cursor, limit)`` returns ``(messages, next_cursor)``: at most ``limit`` messages after
    ``cursor`` (None: from the beginning), each a dict with ``external_id`` (unique within the
    source), ``conversation`` (the source's id of the chat), ``sent_at`` (naive UTC datetime),
    ``sender`` (``{"kind": "customer" | "user", "external_id": ...}``), ``type`` (``text``,
    ``image``, ``file``, ``voice``...), ``content`` (plaintext: the archive encrypts it) and
    optionally ``participants`` and ``attachments`` (metadata only). ``next_cursor`` is kept by
    the core and passed back on the next pull (WeCom's archive: the last ``seq``).
    """

    name: str  # required: "wecom"
    channel: Literal["wecom", "dingtalk", "phone", "webchat"]  # required
    fetch: Callable[[str | None, int], tuple[list[dict], str | None]]  # required
    label: str


class KeyWrapper(TypedDict, total=False):
    """One item of ``crm_key_wrappers``: a way to wrap data keys (Vault transit, a cloud KMS).

    ``wrap(key) -> bytes`` and ``unwrap(blob) -> bytes``; the setting ``ENCRYPTION_KEY_WRAPPER``
    names the wrapper new data keys are wrapped with (``local``: the master key).
    """

    name: str  # required: "vault"
    wrap: Callable[[bytes], bytes]  # required
    unwrap: Callable[[bytes], bytes]  # required


class RetentionPolicy(TypedDict, total=False):
    """One item of ``crm_retention_policies``: rows of one kind kept for a number of days.

    ``model`` and ``field`` (a timestamp column) say which rows age; ``where`` (a peewee
    expression), when given, narrows them (only dispatched events age); ``setting`` names the
    setting holding the days (its ``default_days`` when unset), within ``min_days`` ..
    ``max_days`` (else the job reports the policy's error). ``purge(cutoff) -> int``, when
    given, deletes what is older than ``cutoff`` itself (the audit log keeps its chain that way);
    without it the retention job deletes rows with ``field < cutoff`` (and ``where``) in batches.
    """

    name: str  # required: "conversations"
    model: Any  # required: a peewee model
    field: Any  # a peewee field; required without ``purge``
    where: Any  # a peewee expression: only the rows matching it age
    setting: str
    default_days: int  # required
    min_days: int  # the fewest days the setting may say (a legal minimum); default 1
    max_days: int  # the most; default 36500
    purge: Callable[[dt.datetime], int]
