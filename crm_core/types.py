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
- ``PermissionSpec``, ``JobSpec``, ``ActionSpec``, ``NavEntry``, ``EntityTemplate``: the items
  that ``crm_permissions``, ``crm_jobs``, ``crm_actions``, ``crm_nav`` and ``crm_entities``
  return. They are ``TypedDict`` s, so a plain dict is one: code written before the types keeps
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
    "DemoContext",
    "EntityTemplate",
    "Event",
    "JobContext",
    "JobSpec",
    "NavEntry",
    "PermissionSpec",
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
    """

    locale: str
    admin: Actor | None
    users: dict[str, list[int]] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    customers: list[int] = field(default_factory=list)
    random: random.Random = field(default_factory=lambda: random.Random(0))
