"""The public API for plugin authors: import from here (and ``crm_core.hookimpl``), nothing else.

Every name below is the core's own object, re-exported: the facade holds no code, so it cannot
drift from what the core does. Names not listed here are internals and may move between releases
(``tests/test_plugin_api.py`` fails when a plugin in this repository imports one). Importing this
module builds no app and imports neither ``crm_core.app`` nor the workbench's pages.

Hooks (``from crm_core import hookimpl``) and the types of their payloads
    ``Actor``, ``Change``, ``Event``, ``DemoContext``, ``JobContext``, ``PermissionSpec``, ``JobSpec``,
    ``ActionSpec``, ``NavEntry``, ``EntityTemplate``, ``ConversationSource``, ``KeyWrapper``,
    ``RetentionPolicy`` (see :mod:`crm_core.types`), ``SealedValues`` (``crm_sealed_values``: where
    a plugin keeps envelope tokens, see :mod:`crm_core.crypto.rotation`).
Models and the database
    ``database`` (the peewee proxy), ``BaseModel``, ``RecordModel`` (owner, department, ``custom``),
    ``utcnow``, ``is_postgres``, ``write_transaction``, ``reading_replica`` (a block of reads that
    tolerate a few seconds of lag, on ``DATABASE_REPLICA_URL``), ``month_start``, ``ensure_months`` and
    ``months_of`` (monthly partitions of your own append-only table, see :mod:`crm_core.partitions`), ``Prepared`` and ``slot`` (statements
    compiled once), ``Customer`` (the core's customers: read them; write through ``update_record``),
    ``Segment`` (saved customer filters) and ``segment_customers`` (a segment's customers in an
    actor's scope, as the customer list reads them), ``collections`` (the collections the app
    serves by resource, each with its ``model`` and ``write_options``: create a record of another
    collection, a ticket, with that collection's own hooks).
Errors
    ``APIError`` (any status; rendered as ``{code, status, message, errors}``), ``abort``.
REST
    ``Blueprint``, ``API_PREFIX``, ``CrudView`` (a whole collection: subclass it, ``mount(blp)``)
    or ``register_crud`` (the same in one call), ``action`` / ``register_action`` (a custom action
    on a record with the same guarantees), ``json_response``; custom lists: ``list_query``,
    ``page_params``, ``pagination_header``, ``list_args_schema`` + ``list_parameters`` (a list's
    filters and sorts in OpenAPI).
Permissions
    ``can``, ``require``, ``get_record``, ``scoped``, ``view``, ``mask``, ``field_rules``,
    ``readable_reference``, ``check_assignment``; ``seed_builtin_grants`` (in a plugin migration);
    ``department_subtree`` (a department and those below it), ``users_with_role`` (whom to notify),
    ``user_names`` (users' display names by id), ``department_names`` (departments' names by id).
Actors
    ``current_actor``, ``public``, ``actor_for_user``, ``acting_actor`` (the automation rule's owner),
    ``verify_password`` (the user's password typed again before a sensitive act: step-up).
    ``route_limit`` (a route counted in a rate-limit bucket of its own, keyed from its URL, such
    as an inbound webhook per shop, instead of the caller's per-IP budget).
Events
    ``emit`` (inside the write's transaction), ``emit_many`` (many events in one multi-row
    insert: bulk writes), ``current_cause``.
The write path (permissions, custom fields, audit and events in one transaction)
    ``create_record``, ``update_record``, ``delete_record``, ``record_written`` (report a write
    that is not a record of its own), ``record_dict``, ``batched`` (many writes reported as one
    batch: one multi-row insert of audit entries and events).
Encryption at rest
    ``seal_value`` / ``open_value`` (a JSON value as an envelope token bound to a context, and
    back), ``SealedValues`` (declare where you keep tokens, for key rotation). Encrypted custom
    fields need none of this: ``"encrypted": true`` in the field definition.
Audit
    ``audit_entries`` (one page of the audit entries of a resource an actor may see, about a
    record or naming it in a list of ``after``: a per-patient read-audit view), ``record_event``
    (``record_event(actor, action, resource, record_id, extra=...)``: one audited
    event that is not a write, such as a semantic read of sensitive data or a break-glass);
    ``is_read_request`` (the request only reads: ``GET``/``HEAD`` or a GraphQL query; audit
    reads in a collection's ``prefetch`` only then, so GraphQL reads are audited too).
Privacy
    ``has_consent`` (``has_consent(customer, purpose)``: the latest consent record for that
    purpose says given; ask it before marketing to a person).
Messaging
    ``send_message`` (``send_message(channel, to, message, *, purpose="service", customer_id=None,
    key=None, actor=None) -> int``: queue a robot or SMS message, rate limited, retried, consent
    checked, idempotent by ``key``; returns the delivery id), ``send_message_if_configured`` (the
    same for work that goes on without it: no channel or a refused queueing is logged, None),
    ``delivery_status`` (a delivery's
    status and last provider code), ``message_opt_out`` (a customer or number wants no marketing
    on ``sms``/``robot``); for a channel of your own (``crm_message_channels``):
    ``MessageChannel``, ``ChannelLimits``, ``SendResult``.
Settings and URLs
    ``Setting``, ``setting_prefix``, ``base_url``, ``absolute_url``.
Input
    ``UTCDateTime`` (marshmallow field), ``checks_nul_itself`` (view decorator),
    ``normalize_phone`` / ``normalize_email`` (the forms customers' phones and e-mails are stored in).
Long work
    ``register_task_kind`` (a handler for a kind of task), ``queue_task`` (queue one for an actor
    from a request), ``task_accepted`` (the ``202`` answer pointing at ``/api/v1/tasks/<id>``).
Workbench pages
    ``login_required``, ``web_actor``, ``nav_entries``.

Tests of a plugin use the fixtures of :mod:`crm_core.testing` (a pytest plugin, installed with the
core) and the page helpers of :mod:`crm_core.browser_testing`.
"""

from __future__ import annotations

from flask_smorest import abort

from .api import API_PREFIX, Blueprint
from .api.actions import action, register_action
from .api.audit import entries_about as audit_entries
from .api.crud import CrudView, register_crud
from .api.graphql import is_read_request
from .api.list_args import list_args_schema, list_parameters
from .api.responses import json_response
from .api.segments import customers_query as segment_customers
from .api.tasks import accepted as task_accepted
from .audit import record_event
from .auth import actor_for_user, current_actor, public
from .auth import confirm_password as verify_password
from .auth.ratelimit import route_limit
from .automations import acting_actor
from .changes import batched, record_written
from .config import Setting, setting_prefix
from .crypto.rotation import SealedValues
from .crypto.values import open_value, seal_value
from .db import (
    BaseModel,
    RecordModel,
    database,
    is_postgres,
    reading_replica,
    utcnow,
    write_transaction,
)
from .directory.departments import department_names
from .directory.users import user_names, users_with_role
from .entities.models import Customer, Segment
from .entities.schemas import UTCDateTime, normalize_email, normalize_phone
from .errors import APIError
from .events import current_cause, emit, emit_many
from .inputs import checks_nul_itself
from .jobs.tasks import queue as queue_task
from .jobs.tasks import register_kind as register_task_kind
from .messaging import (
    ChannelLimits,
    MessageChannel,
    SendResult,
    delivery_status,
    send_message,
    send_message_if_configured,
)
from .messaging import opt_out as message_opt_out
from .partitions import ensure_months, month_start, months_of
from .permissions import (
    can,
    check_assignment,
    field_rules,
    get_record,
    mask,
    readable_reference,
    require,
    scoped,
    view,
)
from .permissions.builtin import seed_builtin_grants
from .permissions.scopes import department_subtree
from .prepared import Prepared, slot
from .privacy.consent import has_consent
from .records.collections import collections
from .records.listing import list_query, page_params, pagination_header
from .records.service import create as create_record
from .records.service import delete as delete_record
from .records.service import record_dict
from .records.service import update as update_record
from .types import (
    ActionSpec,
    Actor,
    Change,
    ConversationSource,
    DemoContext,
    EntityTemplate,
    Event,
    JobContext,
    JobSpec,
    KeyWrapper,
    NavEntry,
    PermissionSpec,
    RetentionPolicy,
)
from .urls import absolute_url, base_url
from .web import login_required, nav_entries, web_actor

__all__ = [
    # hook payload types
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
    "SealedValues",
    # models and the database
    "BaseModel",
    "Customer",
    "Prepared",
    "RecordModel",
    "Segment",
    "collections",
    "database",
    "is_postgres",
    "slot",
    "utcnow",
    "segment_customers",
    "write_transaction",
    "reading_replica",
    "month_start",
    "ensure_months",
    "months_of",
    # errors
    "APIError",
    "abort",
    # REST
    "API_PREFIX",
    "Blueprint",
    "CrudView",
    "action",
    "json_response",
    "list_args_schema",
    "list_parameters",
    "list_query",
    "page_params",
    "pagination_header",
    "register_action",
    "register_crud",
    # permissions
    "can",
    "check_assignment",
    "field_rules",
    "get_record",
    "mask",
    "readable_reference",
    "require",
    "scoped",
    "seed_builtin_grants",
    "department_subtree",
    "users_with_role",
    "user_names",
    "department_names",
    "view",
    # actors
    "acting_actor",
    "actor_for_user",
    "current_actor",
    "public",
    "verify_password",
    "route_limit",
    # events
    "current_cause",
    "emit",
    "emit_many",
    # encryption at rest
    "open_value",
    "seal_value",
    # audit
    "audit_entries",
    "record_event",
    "is_read_request",
    # privacy
    "has_consent",
    # messaging
    "send_message",
    "send_message_if_configured",
    "delivery_status",
    "message_opt_out",
    "MessageChannel",
    "ChannelLimits",
    "SendResult",
    # the write path
    "create_record",
    "delete_record",
    "record_dict",
    "record_written",
    "batched",
    "update_record",
    # settings and URLs
    "Setting",
    "absolute_url",
    "base_url",
    "setting_prefix",
    # input
    "UTCDateTime",
    "checks_nul_itself",
    "normalize_email",
    "normalize_phone",
    # long work
    "queue_task",
    "register_task_kind",
    "task_accepted",
    # workbench pages
    "login_required",
    "nav_entries",
    "web_actor",
]
