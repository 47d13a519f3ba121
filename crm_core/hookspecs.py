"""The hooks a crm-core plugin may implement: the public contract for plugin authors.

Every hook is collected from every registered plugin unless it says otherwise. Implement one with::

    from crm_core import hookimpl

    @hookimpl
    def crm_blueprints():
        return [blp]

The core's own capabilities (``crm_core/<capability>/hooks.py``) are registered through these same
hooks, so a third-party plugin has exactly the power the core has. ``docs/plugins.md`` documents
each hook; ``tests/test_hookspecs.py`` fails when a hook is undocumented or never exercised.

Hooks are called through pluggy, so its rules hold: implementations run in LIFO registration
order (plugins are registered in dependency order, so a plugin runs before the plugins it
requires), ``@hookimpl(tryfirst=True)`` / ``trylast=True`` move one to the front or the back, and
``@hookimpl(wrapper=True)`` wraps the call. Parameters and results are typed with
:mod:`crm_core.types`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

# a plugin's crm_settings returns these, so the name is part of the hook's signature
from .config import Setting

if TYPE_CHECKING:
    import click
    import flask
    import flask_smorest
    import peewee

    from .crypto.rotation import SealedValues
    from .entities.models import Customer
    from .messaging.channels import MessageChannel
    from .types import (
        ActionSpec,
        Actor,
        Change,
        ConversationSource,
        DemoContext,
        EntityTemplate,
        Event,
        JobSpec,
        KeyWrapper,
        NavEntry,
        PermissionSpec,
        RetentionPolicy,
    )

hookspec = pluggy.HookspecMarker("crm_core")


@hookspec(historic=True)
def crm_startup(app: flask.Flask) -> None:
    """Called once when ``create_app()`` has built and wired the Flask ``app``.

    Historic: a plugin registered after startup is called too. Use it for app-level setup
    (template globals, signal wiring, config checks). Returns nothing.

    .. versionadded:: 0.1
    """


@hookspec
def crm_settings() -> dict[str, Setting]:
    """Return the settings this plugin reads: ``{"<PREFIX>_<NAME>": Setting(type, default, help)}``.

    Called once by ``create_app()``, before the configuration is checked, so a plugin's settings
    are read like the core's: defaults < ``crm.toml`` < ``CRM_<KEY>`` environment variables <
    the ``config`` given to ``create_app``, with the same type checks (``str``, ``int`` or
    ``bool``; a wrong value stops the app naming the key) and the same refusal of unknown keys.
    Read them from ``current_app.config``. Every key starts with the plugin's name in upper case
    (``crm_core.config.setting_prefix``: ``loyalty`` -> ``LOYALTY_``); a key without it, a core
    key, or a key two plugins declare is an error at startup. The keys of a disabled plugin are
    ignored, not refused. Example::

        from crm_core.config import Setting

        @hookimpl
        def crm_settings():
            return {"WARRANTY_CLAIM_DAYS": Setting(int, 30, "days after purchase a claim is accepted")}

    .. versionadded:: 0.2
    """


@hookspec
def crm_models() -> list[type[peewee.Model]]:
    """Return the peewee models this plugin owns.

    Called when the app is created. The core binds them to the database proxy and lists them for
    tests and tooling; tables are created only by migrations (never at request time). Table names
    must start with the plugin's name (``loyalty_member``) so that plugins never collide.

    .. versionadded:: 0.1
    """


@hookspec
def crm_migrations() -> str | None:
    """Return the path of this plugin's migrations directory, or None.

    Called by ``crm migrate`` (and ``crm init``). Each plugin's directory holds
    ``playhouse.migrations`` files (``0001_initial.py`` defining ``up(migrator, db)``); its history
    is kept in its own table ``crm_migrations_<plugin>``. Plugins are migrated in dependency order
    (the ``requires`` attribute of the plugin module).

    .. versionadded:: 0.1
    """


@hookspec
def crm_after_migrate(app: flask.Flask) -> None:
    """Called by ``crm migrate`` and ``crm init`` after every plugin's migrations were applied.

    For data steps that need the whole schema in place: the core applies the industry templates
    of ``crm_entities`` here, so installing or enabling a plugin and migrating applies its
    templates. Must be idempotent: it runs on every ``crm migrate``. Returns nothing.

    .. versionadded:: 0.1
    """


@hookspec
def crm_entities() -> list[EntityTemplate]:
    """Return entity templates: custom object types and custom fields on existing objects.

    Called when templates are applied (``crm migrate``, ``crm templates apply``). Each template is
    a dict ``{"name", "version", "objects": [...], "fields": [...]}`` and is applied idempotently:
    applying the same version twice changes nothing.

    .. versionadded:: 0.1
    """


@hookspec
def crm_permissions() -> list[PermissionSpec]:
    """Return the resources and actions this plugin adds to the permission system.

    Each item is ``{"resource": "loyalty.points", "actions": ["read", "adjust"], "label": "..."}``,
    optionally with ``"sensitive": True`` to have every single-record read of the resource
    written to the audit log (medical records, conversations). Roles can then grant
    ``loyalty.points:adjust``; only the built-in admin role covers plugin resources until a
    plugin seeds grants for other roles in its migrations. Collected once per app.

    .. versionadded:: 0.1
    """


@hookspec
def crm_permission_check(
    actor: Actor, action: str, resource: str, record: peewee.Model | None
) -> bool | None:
    """Veto an action on a record: return False to deny, True or None to leave the decision.

    Called by the permission module after the role grant has allowed ``action`` on ``resource``
    for ``actor`` (``record`` is None for collection-level checks such as create). Any False denies,
    so install order never matters; no plugin can widen what the actor's roles grant.

    .. versionadded:: 0.1
    """


@hookspec
def crm_permission_filter(
    actor: Actor, action: str, model: type[peewee.Model], resource: str
) -> peewee.Expression | None:
    """Return a peewee expression AND-ed into every query of ``model`` for ``actor``, or None.

    Called whenever the permission decision (``permissions.view``) bounds a query: lists, detail,
    update, delete, export, counts, timelines, webhook payloads. ``resource`` is the permission
    resource the rows are read as (``customers``, ``objects.course``, ``loyalty.members``), so a
    rule can be keyed by resource the way Frappe keys permission hooks by doctype; ``action`` is
    the action asked for (a non-read action is also bounded by the ``read`` filters). Restricts
    only: it can never widen a role's row scope. Take only the arguments you need (pluggy).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 receives ``resource``.
    """


@hookspec
def crm_blueprints() -> list[flask_smorest.Blueprint]:
    """Return flask-smorest ``Blueprint`` objects to mount on the API.

    Called when the app is created. Give each blueprint a ``url_prefix`` under ``/api/v1``
    (``/api/v1/loyalty``); each becomes one OpenAPI tag. Views should use the core's service and
    permission functions rather than querying models directly.

    .. versionadded:: 0.1
    """


@hookspec
def crm_web_blueprints() -> list[flask.Blueprint]:
    """Return plain Flask blueprints with HTML pages for the web workbench.

    Called when the app is created. Pages use the workbench layout (``crm/base.html``) and the
    same permission module as the API.

    .. versionadded:: 0.1
    """


@hookspec
def crm_jobs() -> list[JobSpec]:
    """Return scheduled jobs: ``{"id": "<plugin>:<job>", "func": callable, "trigger": "cron" |
    "interval", **trigger_args}``, optionally with ``"description"`` and ``"misfire_grace_time"``.

    Collected only by the scheduler process (``crm scheduler`` / ``crm run``) and by
    ``crm jobs run``; web workers never schedule. ``func`` runs inside an app context. A ``func``
    with a required positional parameter is called with a :class:`crm_core.types.JobContext`
    (``app``, ``job_id``, ``run_id``, ``now``, ``actor``, ``source``, ``log``); one without any
    is called with no argument. Compute with ``ctx.now`` rather than the wall clock:
    ``crm jobs run <id> --at 2026-03-01T00:00:00`` then runs the job as of that time (tests,
    back-fills). Write through the write path as ``ctx.actor``, the jobs' system actor: the
    audit log shows such writes with ``actor_name`` ``"job:<id>"``, ``client_id`` ``"job"`` and
    no ``actor_id``. Example::

        def send_reminders(ctx):
            due = Claim.select().where(Claim.due_at <= ctx.now)
            for claim in due:
                update_record("warranty.claims", claim, {"reminded": True}, ctx.actor)

        @hookimpl
        def crm_jobs():
            return [{"id": "warranty:remind", "func": send_reminders, "trigger": "cron", "hour": 7}]

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``func`` may take a ``JobContext``.
    """


@hookspec
def crm_event(event: Event) -> None:
    """Receive a committed domain event (``customer.created``, ``order.paid``...).

    Called by the event dispatcher once per event, after the transaction that wrote it committed.
    ``event`` has ``id``, ``type``, ``occurred_at`` and ``data``. A plugin that raises is logged
    and the event is retried; it must therefore be idempotent on ``event.id``.

    .. versionadded:: 0.1
    """


@hookspec
def crm_record_written(change: Change) -> None:
    """Observe a write inside its transaction (audit, outbox, search index...).

    Called by the core's write path for every create, update and delete, before commit, with a
    ``Change`` (``actor``, ``action``, ``resource``, ``record``, ``before``, ``after``). Raising
    rolls the write back. Prefer ``crm_event`` for work that need not be atomic with the change.

    .. versionadded:: 0.1
    """


@hookspec
def crm_records_written(changes: list[Change]) -> None:
    """Observe a batch of writes inside their transaction, in one call (imports, and the writes
    of a ``changes.batched()`` block: bulk tag and assign, a segment's coupons).

    ``changes.records_written`` (the batch form of ``record_written``) calls this hook once per
    batch on the plugins that implement it, and ``crm_record_written`` once per change on those
    that do not: implement it beside ``crm_record_written`` to write one multi-row insert per
    batch (the core's audit log and outbox do) while still recording one entry per change.
    Raising rolls the batch back.

    .. versionadded:: 0.2
    """


@hookspec
def crm_actions() -> list[ActionSpec]:
    """Return automation actions this plugin offers: ``{"name", "label", "schema", "run"}``.

    ``schema`` (a marshmallow schema) validates a rule's ``params`` when the rule is saved.
    ``run(params, event, customer)`` is called by automation rules as the rule's owner
    (``crm_core.automations.acting_actor()``) inside a savepoint; raise ``APIError`` with a 4xx
    code for a failure a retry cannot fix, anything else is retried. Collected when rules run
    and when the rule editor lists the actions available.

    .. versionadded:: 0.1
    """


@hookspec
def crm_export_customer(customer: Customer) -> dict[str, Any] | None:
    """Return everything this plugin stores about ``customer``, as JSON-ready data, or None.

    Called by the privacy export (GDPR / PIPL subject access: ``GET
    /api/v1/customers/<id>/privacy-export``, ``crm privacy export``). The result is placed at
    ``plugins.<plugin name>`` of the export document, beside the core's ``customer``,
    ``contacts``, ``deals``, ``activities``, ``tickets`` and ``tags``: one place where the person
    finds every plugin's data, and no plugin can overwrite a core section. A plugin returning
    None is left out. Return only what the export's reader may see: the export is made for an
    actor with ``customers:export`` on the customer.

    .. versionadded:: 0.1
    """


@hookspec
def crm_erase_customer(customer: Customer) -> None:
    """Erase or anonymise what this plugin stores about ``customer``.

    Called by the privacy erasure inside one transaction with the core's own erasure; raising
    aborts the whole erasure.

    .. versionadded:: 0.1
    """


@hookspec
def crm_cli(group: click.Group) -> None:
    """Add commands to the ``crm`` command line.

    Called when the CLI is built, with the top-level click ``group``; add commands or subgroups
    with ``group.add_command`` or the ``@group.command()`` decorator.

    .. versionadded:: 0.1
    """


@hookspec
def crm_nav() -> list[NavEntry]:
    """Return web workbench entries: ``{"label", "endpoint", "args"?, "permission", "order"?,
    "kind", "template"?, "template_vars"?}``.

    ``kind`` is ``"menu"`` (a menu entry linking to the Flask ``endpoint`` with ``args``; a plugin
    collection made with ``register_crud`` already has pages at ``endpoint="web.record_list"``,
    ``args={"resource": "<resource>"}``), ``"dashboard"`` (a dashboard panel) or
    ``"customer_panel"`` (a panel on the customer 360 page, rendering ``template`` with
    ``customer``, ``data`` (the record with hidden fields removed) and ``actor``).
    ``permission`` is ``"resource:action"``, a list meaning any of them, or None for every
    signed-in user. Called when a page is rendered; entries the user may not use are left out,
    and a panel that fails to render shows a notice instead of breaking the page.

    A panel brings its plugin's data with ``"template_vars"``: a function called with the
    arguments it names among the panel's context (``customer``, ``actor``, ``data``), returning a
    dict of extra template variables (datasette's ``extra_template_vars``). It is called only
    when the panel renders, for a viewer holding its ``permission``; read with that ``actor``'s
    permissions (``scoped``, ``view``). The core's variables win a name clash; a function that
    raises shows the panel's notice. Example::

        def warranty_vars(customer, actor):
            query = scoped(Warranty.select(), actor, "warranty.warranties", "read")
            return {"warranties": list(query.where(Warranty.customer_id == customer.id))}

        {"kind": "customer_panel", "label": "Warranties", "template": "warranty/panel.html",
         "permission": "warranty.warranties:read", "template_vars": warranty_vars}

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``template_vars``.
    """


@hookspec
def crm_translations() -> list[str]:
    """Return folders of gettext catalogues (``<folder>/<locale>/LC_MESSAGES/messages.mo``) that
    translate this plugin's strings in the workbench and in API error messages.

    Called once when the app is built. The folders are merged after the core's catalogue, in
    plugin order, so a plugin translates its own labels, pages and messages. The catalogues share
    one domain: a message two catalogues translate reads as the later one says, on every page, so
    give a short, ambiguous word its own context (``pgettext("tier change", "From")``) or wording. Keep the catalogue beside the package (``<package>/translations``, with a
    ``babel.cfg`` saying which files to extract) and maintain it with
    ``python -m crm_core.web.catalogs sync <package folder>`` (extract, merge, compile);
    ``python -m crm_core.web.catalogs check <package folder>`` fails (exit 1) on what a test should fail on.

    .. versionadded:: 0.2
    """


@hookspec
def crm_demo_data(context: DemoContext) -> None:
    """Add this plugin's demo records, after the core's (``crm demo-data``, ``crm init --demo``).

    ``context`` (:class:`crm_core.types.DemoContext`) names the demo's locale, its users by role,
    departments and customers, and a seeded random generator; write in ``context.locale`` and
    attach records to those customers, owners and departments, so every screen of the plugin
    shows something a visitor understands. With ``context.audit`` (``--audit``) report what you
    insert (``record_written`` inside ``batched()``, ``extra={"event": False}``) to the audit log. Called inside the
    command's transaction; return nothing.

    .. versionadded:: 0.2
    """


@hookspec
def crm_conversation_sources() -> list[ConversationSource]:
    """Return archives of conversations to pull: ``{"name", "channel", "fetch", "label"?}``
    (:class:`crm_core.types.ConversationSource`).

    The conversation archive's job calls ``fetch(cursor, limit)`` for each source, stores the
    messages it returns with their content encrypted (bound to the customer when the sender or a
    participant maps to one), and keeps ``next_cursor`` for the next pull; a message whose
    ``external_id`` is already stored is skipped, so a source may return a message twice. Raising
    stops that source's pull (the cursor stays where it was) and is logged. Example: the WeCom
    archive adapter pulls by ``seq`` and decrypts each message with its own key.

    .. versionadded:: 0.3
    """


@hookspec
def crm_key_wrappers() -> list[KeyWrapper]:
    """Return key wrappers (a KMS, Vault transit): ``{"name", "wrap", "unwrap"}``
    (:class:`crm_core.types.KeyWrapper`).

    Data keys are stored wrapped; the wrapper named by ``ENCRYPTION_KEY_WRAPPER`` wraps new keys,
    and each stored key remembers the wrapper that wrapped it, so keys wrapped before a change of
    wrapper still open. ``local`` (the master key) is the core's own. Collected when a key is
    first used in a process.

    .. versionadded:: 0.3
    """


@hookspec
def crm_retention_policies() -> list[RetentionPolicy]:
    """Return how long rows of each kind are kept: ``{"name", "model", "field", "where"?,
    "setting"?, "default_days", "min_days"?, "max_days"?, "purge"?}``
    (:class:`crm_core.types.RetentionPolicy`).

    The retention job (``core:retention``, daily) deletes rows older than each policy's days, in
    batches (on PostgreSQL a table range-partitioned on ``field`` loses its wholly older
    partitions instead); ``crm retention status`` shows each policy, its days and how many rows
    are due, ``crm retention run [--at ISO] [--dry-run]`` applies them now.

    .. versionadded:: 0.3
    """


@hookspec
def crm_sealed_values() -> list[SealedValues]:
    """Return the places where this plugin stores envelope tokens
    (:class:`crm_core.crypto.rotation.SealedValues`: a model, the expression giving the token, and
    the context it was sealed with), so key rotation reaches them.

    ``crm keys status`` counts the tokens of each data key in every place, ``crm keys reencrypt``
    (and the ``core:reencrypt`` job) moves them to the active key row by row with
    compare-and-set, and ``crm keys retire`` refuses a key that any place still needs. Declare
    history copies (tokens inside JSON you never rewrite) with ``history=True``. The core declares
    its encrypted custom fields, the conversation archive, the audit log and the outbox.
    Example::

        @hookimpl
        def crm_sealed_values():
            return [SealedValues("warranty.serials", Warranty, Warranty.serial,
                                 context=lambda row_id: f"warranty/{row_id}/serial")]

    .. versionadded:: 0.3
    """


@hookspec
def crm_message_channels() -> list[MessageChannel]:
    """Return message channels: :class:`crm_core.messaging.MessageChannel` objects (or dicts of
    their fields) with a ``name``, the message ``kinds`` it sends (``text``, ``markdown``,
    ``template``), its platform ``limits`` (:class:`crm_core.messaging.ChannelLimits`: rate
    windows, a block, UTF-8 bytes per kind, per-number caps) and ``send(recipient, message)``
    returning a :class:`crm_core.messaging.SendResult`.

    Collected each time a message is queued or sent (``send_message``, the job
    ``core.messaging:send``); a second channel of a taken name is ignored and logged. The core
    offers one channel per configured robot or SMS account. The core splits a long message by
    the channel's byte limits, rate limits it across processes, retries a ``retryable`` result
    with backoff and logs every attempt: ``send`` makes one request and says how it went (a
    raised exception is a retryable failure). See ``docs/messaging.md``.

    .. versionadded:: 0.3
    """


@hookspec
def crm_message_allowed(customer_id: int | None, purpose: str, channel: str) -> bool | None:
    """Veto a message: return False to refuse sending to ``customer_id`` (None: a message to a
    group or a number with no customer) for ``purpose`` (``service``, ``marketing``,
    ``reminder``, ``alert``, ``verification``) on the channel named ``channel``; True or None
    leaves the decision to the others.

    Asked when a message is queued and, for marketing, again right before it is sent (consent
    withdrawn meanwhile counts). A refused message is kept as a delivery with status ``refused``
    and ``last_code`` ``vetoed:<plugin>``. The core itself refuses marketing without the
    customer's ``marketing`` consent or after an opt-out. Example: a clinic plugin refuses
    marketing to patients without their separate consent.

    .. versionadded:: 0.3
    """
