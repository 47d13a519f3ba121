"""Bulk inserts for imports and seeding: :func:`crm_core.bulk.insert_rows`, named here too (where
the record writers have always found it). It lives in the lowest layer so that the audit log and
the outbox, below the records, write their batches with it as well."""

from __future__ import annotations

from ..bulk import insert_rows

__all__ = ["insert_rows"]
