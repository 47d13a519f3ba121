"""Records: what every object shares.

- :mod:`crm_core.records.service`: ``create``, ``update``, ``delete``, the one write path;
- :mod:`crm_core.records.listing`: ``list_query``, the list API grammar in SQL;
- :mod:`crm_core.records.bulk_update`: ``bulk_update``, bulk tag and assign as one batch of updates;
"""

from . import listing, service  # noqa: F401
from .listing import list_query  # noqa: F401
