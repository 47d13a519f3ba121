"""Records: what every object shares.

- :mod:`crm_core.records.service`: ``create``, ``update``, ``delete``, the one write path;
- :mod:`crm_core.records.listing`: ``list_query``, the list API grammar in SQL;
- :mod:`crm_core.records.resource`: ``register_crud``, the REST collection factory.
"""

from . import listing, resource, service  # noqa: F401
from .listing import list_query  # noqa: F401
from .resource import register_crud  # noqa: F401
