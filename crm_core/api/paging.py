"""The one pager of the REST API: a page of a query and its ``X-Pagination`` header.

Every list answers a JSON array of one page and an ``X-Pagination`` header holding
``records.listing.pagination_header``: ``total``, ``total_pages`` (at least 1), ``first_page``,
``last_page``, ``page``, ``page_size`` and, when they exist, ``previous_page`` / ``next_page``.

- CRUD collections (``register_crud``) and the identity lists (users, departments, roles, audit)
  call :func:`page_of`;
- lists written with flask-smorest's ``@blp.paginate()`` (events, jobs, tasks, webhooks,
  automations) get the same header, since the core's ``Blueprint`` builds its metadata with the
  same function (``Blueprint._make_pagination_metadata``).
"""

from __future__ import annotations

import json

from ..records.listing import pagination_header

PAGINATION_HEADER_DOC = {
    "X-Pagination": {
        "description": "JSON: total, total_pages, first_page, last_page, page, page_size, "
        "previous_page, next_page",
        "schema": {"type": "string"},
    }
}


def pagination_headers(total: int, page: int, page_size: int) -> dict:
    """The ``X-Pagination`` response header (as a headers dict) of one page."""
    return {"X-Pagination": json.dumps(pagination_header(total, page, page_size))}


def page_of(query, page: int | dict, page_size: int | None = None) -> tuple[list, dict]:
    """(rows of the page, headers dict with ``X-Pagination``) of a peewee query, counted in SQL.

    ``page`` may be a parsed ``PageArgs`` dict (``{"page": 2, "page_size": 50}``)."""
    if isinstance(page, dict):
        page, page_size = page["page"], page["page_size"]
    total = query.order_by().count()
    rows = list(query.paginate(page, page_size))
    return rows, pagination_headers(total, page, page_size)
