"""Automation rules: "when <event> and <conditions> then <actions>", without code.

Public API: ``acting_actor()`` (the rule owner an action runs as, for plugin actions),
``conditions.validate`` / ``conditions.evaluate`` (the JSON condition language),
``engine.dry_run``. Plugins add actions with the ``crm_actions`` hook.
"""

from __future__ import annotations

from .actions import acting_actor

__all__ = ["acting_actor"]
