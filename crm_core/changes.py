"""``Change``: what the write path tells observers (audit, outbox, plugins) about one write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Change:
    """One create, update or delete, passed to ``crm_record_written`` inside the transaction.

    ``before`` and ``after`` are JSON-ready dicts of the record's fields (``None`` for the side
    that does not exist); ``changed`` lists the fields whose values differ. ``resource`` is the
    permission resource name (``customers``, ``objects.course``, ``loyalty.members``).
    """

    action: str  # "create" | "update" | "delete"
    resource: str
    record_id: Any
    actor: Any = None
    before: dict | None = None
    after: dict | None = None
    record: Any = None
    request_id: str | None = None
    ip: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        """Names of fields whose value differs between before and after."""
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))

    @property
    def event_type(self) -> str:
        """Domain event name: ``customers`` + ``create`` -> ``customer.created``."""
        noun = (
            self.resource[:-1] if self.resource.endswith("s") and "." not in self.resource else self.resource
        )
        if noun.endswith("ie"):
            noun = noun[:-2] + "y"  # activities -> activity, companies -> company
        past = {"create": "created", "update": "updated", "delete": "deleted"}.get(self.action, self.action)
        return f"{noun}.{past}"
