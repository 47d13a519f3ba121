"""Dedicated editors that replace the generic record form for one resource.

Most collections are edited with the generic form (``/records/<resource>/new`` and ``/edit``).
A resource whose values a form of plain inputs cannot express well (a segment's filter, an
automation's trigger, conditions and actions) registers its own pages here; the generic form
routes then redirect to them, so every link to "new" or "edit" keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Editor:
    """The endpoints of a resource's own editor: ``new`` takes no arguments, ``edit`` takes
    ``record_id``."""

    new: str
    edit: str


EDITORS: dict[str, Editor] = {}


def register_editor(resource: str, new: str, edit: str) -> None:
    """Make ``new`` and ``edit`` (endpoint names) the pages that create and edit ``resource``."""
    EDITORS[resource] = Editor(new=new, edit=edit)


def editor_for(resource: str) -> Editor | None:
    """The registered editor of ``resource``, or None (the generic form)."""
    return EDITORS.get(resource)
