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

from ..records.cursors import capped_count
from ..records.listing import pagination_header

PAGINATION_HEADER_DOC = {
    "X-Pagination": {
        "description": "JSON: total, total_pages, first_page, last_page, page, page_size, "
        "previous_page, next_page; total_at_least: true when the total was counted only up to "
        "LIST_COUNT_CAP rows (default 10,000; then total, total_pages and last_page are lower "
        "bounds); next_after: the cursor of the next page, to pass as ?after= (collections "
        "sorted by columns that are never empty), as fast on page 40,000 as on page 1",
        "schema": {"type": "string"},
    }
}


def pagination_headers(total: int, page: int, page_size: int, next_after: str | None = None) -> dict:
    """The ``X-Pagination`` response header (as a headers dict) of one page; ``total`` may be a
    ``records.cursors.Total`` counted up to the cap (``total_at_least``)."""
    return {"X-Pagination": json.dumps(pagination_header(total, page, page_size, next_after))}


def page_of(query, page: int | dict, page_size: int | None = None) -> tuple[list, dict]:
    """(rows of the page, headers dict with ``X-Pagination``) of a peewee query, counted in SQL
    up to ``LIST_COUNT_CAP`` rows (or the end of the page, if further).

    ``page`` may be a parsed ``PageArgs`` dict (``{"page": 2, "page_size": 50}``)."""
    if isinstance(page, dict):
        page, page_size = page["page"], page["page_size"]
    total = capped_count(query.order_by(), page * page_size)
    rows = list(query.paginate(page, page_size))
    return rows, pagination_headers(total, page, page_size)
