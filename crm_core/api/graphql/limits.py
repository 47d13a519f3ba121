"""Query depth and cost limits, checked on a validated document before anything runs.

- **Depth**: how deep fields nest (a root field is 1; fragments count where they are spread).
  ``GRAPHQL_MAX_DEPTH`` (default 15, which the standard introspection query fits in).
- **Cost**: every field selected costs 1, times the page size of each collection list above it
  (its ``page_size`` argument, a variable's value, or the default 20; a page size that is not a
  plain number counts as the largest page, so a variable cannot hide it; a variable's declared
  default counts when it is not sent). So
  ``customers(page_size: 100) { items { id name } }`` costs 1 + 100 x 3 = 301. Aliases and
  repeated fields are counted each time. ``GRAPHQL_MAX_COST`` (default 5000).

Over a limit the query is refused whole (HTTP 400) with an error naming the limit, the measured
figure and the setting (``extensions.code`` 400, ``extensions.limit`` ``depth`` or ``cost``).
"""

from __future__ import annotations

from flask_babel import gettext as _
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    VariableNode,
)

from ...records import listing


class LimitExceeded(Exception):
    """A query over the depth or cost limit; ``formatted`` is its GraphQL error."""

    def __init__(self, limit: str, measured: int, allowed: int, setting: str):
        if limit == "depth":
            message = _(
                "Query depth %(measured)s is over the limit of %(allowed)s (%(setting)s); nest fewer fields.",
                measured=measured,
                allowed=allowed,
                setting=setting,
            )
        else:
            message = _(
                "Query cost %(measured)s is over the limit of %(allowed)s (%(setting)s); "
                "ask for fewer fields or smaller pages.",
                measured=measured,
                allowed=allowed,
                setting=setting,
            )
        super().__init__(message)
        self.formatted = {
            "message": message,
            "extensions": {"code": 400, "limit": limit, "measured": measured, "allowed": allowed},
        }


def _page_size(field: FieldNode, variables: dict) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "page_size":
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            raw = variables.get(value.name.value)
            if raw is None:  # not sent: the list's default page
                return listing.DEFAULT_PAGE_SIZE
            return (
                raw if isinstance(raw, int) and 1 <= raw <= listing.MAX_PAGE_SIZE else listing.MAX_PAGE_SIZE
            )
        if isinstance(value, IntValueNode):
            return max(1, min(int(value.value), listing.MAX_PAGE_SIZE))
        return listing.MAX_PAGE_SIZE
    return listing.DEFAULT_PAGE_SIZE


class _Measure:
    def __init__(self, document: DocumentNode, variables: dict, lists: set[str]):
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables
        self.lists = lists

    def walk(self, selection_set, depth: int, weight: int, root: bool) -> tuple[int, int]:
        """(deepest depth, cost) of a selection set at ``depth`` under a multiplier ``weight``."""
        deepest, cost = depth - 1, 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                cost += weight
                inner = weight
                if root and selection.name.value in self.lists:
                    inner = weight * _page_size(selection, self.variables)
                sub_depth, sub_cost = self.walk(selection.selection_set, depth + 1, inner, False)
                deepest = max(deepest, depth, sub_depth)
                cost += sub_cost
            elif isinstance(selection, InlineFragmentNode):
                sub_depth, sub_cost = self.walk(selection.selection_set, depth, weight, root)
                deepest, cost = max(deepest, sub_depth), cost + sub_cost
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:  # validation refused unknown fragments and cycles
                    sub_depth, sub_cost = self.walk(fragment.selection_set, depth, weight, root)
                    deepest, cost = max(deepest, sub_depth), cost + sub_cost
        return deepest, cost


def measure(document: DocumentNode, operation: OperationDefinitionNode, variables, lists) -> tuple[int, int]:
    """``(depth, cost)`` of ``operation``; ``lists`` names the root fields that return a page."""
    values = {}
    for definition in operation.variable_definitions or ():
        default = definition.default_value
        if default is not None:  # a default the operation declares counts when none is sent
            values[definition.variable.name.value] = (
                int(default.value) if isinstance(default, IntValueNode) else listing.MAX_PAGE_SIZE
            )
    values.update({k: v for k, v in (variables or {}).items() if v is not None})
    return _Measure(document, values, set(lists)).walk(operation.selection_set, 1, 1, True)


def check(document, operation, variables, lists, config) -> None:
    """Raise ``LimitExceeded`` when the operation is deeper or costlier than the settings allow."""
    depth, cost = measure(document, operation, variables, lists)
    if depth > config["GRAPHQL_MAX_DEPTH"]:
        raise LimitExceeded("depth", depth, config["GRAPHQL_MAX_DEPTH"], "GRAPHQL_MAX_DEPTH")
    if cost > config["GRAPHQL_MAX_COST"]:
        raise LimitExceeded("cost", cost, config["GRAPHQL_MAX_COST"], "GRAPHQL_MAX_COST")
