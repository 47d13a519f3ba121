"""Constants and helpers of the channel tracking tests (a unique module name: conftest.py is not
importable when several plugins' tests run in one session)."""

from __future__ import annotations

#: ids of the customers ``conftest.seeded_customers`` creates (a conversion recorded through the
#: API must name a customer the caller can read)
SEEDED_CUSTOMERS = (1, 2, 3, 42)


def api(client, headers, method, path, **kw):
    """Call /api/v1/channel-tracking<path> and return the response."""
    return client.open(f"/api/v1/channel-tracking{path}", method=method, headers=headers, **kw)
