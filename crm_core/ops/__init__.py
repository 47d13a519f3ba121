"""Operations as a core capability: health probes, Prometheus metrics and structured logs.

``/health/live`` and ``/health/ready`` (:mod:`.health`), ``/metrics`` (:mod:`.metrics`), JSON log
lines, one line per request and slow-query logging (:mod:`.logs`). docs/operations.md lists the
metrics and the settings.
"""
