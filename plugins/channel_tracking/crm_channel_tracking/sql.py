"""Attribution and funnels as set-based SQL (PostgreSQL and SQLite), for volume.

The same rules as the pure modules (:mod:`.attribution`, :mod:`.sessions`, :mod:`.funnels`),
expressed as window functions and correlated index lookups, so 100,000 conversions over millions
of touchpoints are one statement instead of a Python loop per touchpoint. Tests check that both
give the same credits and funnel counts.

Sessions: a touch starts a session when the same person's previous touch is more than the
timeout earlier (``LAG`` over ``(subject, occurred_at, id)``). Attribution works on session
starts within ``[converted_at - lookback, converted_at]``; the touches read start ``lookback +
timeout`` before the first conversion, so every touch inside a window sees its predecessor and
the session rule is exact.

Numbers that shape the SQL (windows, half-life) are validated floats formatted into the text;
every value coming from a request (dates, currency, event types) is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee as pw

from crm_core.plugin_api import is_postgres

from .attribution import DIRECT, MODELS

TOUCH = "channel_tracking_touchpoint"
CONVERSION = "channel_tracking_conversion"


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between PostgreSQL and SQLite."""

    postgres: bool

    @property
    def param(self) -> str:
        return "%s" if self.postgres else "?"

    def seconds_between(self, later: str, earlier: str) -> str:
        """Seconds from ``earlier`` to ``later`` as a float expression."""
        if self.postgres:
            return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def at_most(self, later: str, earlier: str, seconds: float) -> str:
        """``later - earlier <= seconds`` (exact at the boundary on both backends)."""
        if self.postgres:
            return f"{later} <= {earlier} + make_interval(secs => {float(seconds)!r})"
        # SQLite keeps datetimes as text; compare whole milliseconds so equality is exact
        return f"ROUND((julianday({later}) - julianday({earlier})) * 86400000.0) <= {round(seconds * 1000)}"

    def padded(self, number: str) -> str:
        """``number`` as 12 zero-padded digits (text that sorts like the number)."""
        if self.postgres:
            return f"LPAD(CAST({number} AS TEXT), 12, '0')"
        return f"printf('%012d', {number})"

    def more_than(self, later: str, earlier: str, seconds: float) -> str:
        """``later - earlier > seconds``."""
        if self.postgres:
            return f"{later} > {earlier} + make_interval(secs => {float(seconds)!r})"
        return f"ROUND((julianday({later}) - julianday({earlier})) * 86400000.0) > {round(seconds * 1000)}"


def dialect(db: pw.Database) -> Dialect:
    """The dialect of ``db``."""
    return Dialect(postgres=is_postgres(db))


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name} must be positive")
    return value


def credit_expression(model: str, d: Dialect, half_life_days: float) -> str:
    """The SQL giving each row of ``ranked`` its credit under ``model`` (columns: pos, n,
    lnd_pos, age_s, w_total)."""
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}")
    one = "CAST(1 AS DOUBLE PRECISION)"
    if model == "first_touch":
        return f"CASE WHEN pos = 1 THEN {one} ELSE 0 END"
    if model == "last_touch":
        return f"CASE WHEN pos = n THEN {one} ELSE 0 END"
    if model == "last_non_direct":
        return f"CASE WHEN pos = COALESCE(lnd_pos, n) THEN {one} ELSE 0 END"
    if model == "linear":
        return f"{one} / n"
    if model == "position_based":
        return (
            f"CASE WHEN n = 1 THEN {one} WHEN n = 2 THEN 0.5 "
            f"WHEN pos = 1 OR pos = n THEN 0.4 ELSE 0.2 / (n - 2) END"
        )
    return f"{_decay_weight(half_life_days)} / w_total"


def _decay_weight(half_life_days: float) -> str:
    half_life_s = _positive(half_life_days, "half_life_days") * 86400.0
    return f"POWER(CAST(2 AS DOUBLE PRECISION), -age_s / {half_life_s!r})"


def credits_sql(
    d: Dialect,
    model: str,
    lookback_days: float,
    half_life_days: float,
    timeout_minutes: float,
    conversion_filter: str = "",
) -> str:
    """SQL of ``(conversion_id, touchpoint_id, channel_group, campaign_id, kol, revenue, credit)``:
    one row per session start in each conversion's path, plus one row with a NULL touchpoint and
    full credit for every conversion without any touch in its window.

    Parameters, in order: conversions from, conversions before, currency, touches from, touches
    before; then those of ``conversion_filter`` (extra SQL AND-ed into the conversion WHERE).
    """
    lookback_s = _positive(lookback_days, "lookback_days") * 86400.0
    timeout_s = _positive(timeout_minutes, "timeout_minutes") * 60.0
    p = d.param
    return f"""
WITH conv AS (
    SELECT id, subject, occurred_at, revenue FROM {CONVERSION}
    WHERE occurred_at >= {p} AND occurred_at < {p} AND currency = {p} {conversion_filter}
),
tp AS (
    SELECT t.id, t.subject, t.occurred_at, t.channel_group, t.campaign_id, t.kol,
           LAG(t.occurred_at) OVER (PARTITION BY t.subject ORDER BY t.occurred_at, t.id) AS prev_at
    FROM {TOUCH} t
    WHERE t.subject IN (SELECT subject FROM conv) AND t.occurred_at >= {p} AND t.occurred_at < {p}
),
starts AS (
    SELECT id, subject, occurred_at, channel_group, campaign_id, kol FROM tp
    WHERE prev_at IS NULL OR {d.more_than("occurred_at", "prev_at", timeout_s)}
),
path AS (
    SELECT c.id AS conversion_id, c.revenue, s.id AS touchpoint_id, s.channel_group, s.campaign_id,
           s.kol, {d.seconds_between("c.occurred_at", "s.occurred_at")} AS age_s,
           ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY s.occurred_at, s.id) AS pos,
           COUNT(*) OVER (PARTITION BY c.id) AS n
    FROM conv c JOIN starts s ON s.subject = c.subject
    WHERE s.occurred_at <= c.occurred_at AND {d.at_most("c.occurred_at", "s.occurred_at", lookback_s)}
),
ranked AS (
    SELECT path.*,
           MAX(CASE WHEN channel_group <> '{DIRECT}' THEN pos END) OVER (PARTITION BY conversion_id) AS lnd_pos,
           SUM({_decay_weight(half_life_days)}) OVER (PARTITION BY conversion_id) AS w_total
    FROM path
)
SELECT conversion_id, touchpoint_id, channel_group, campaign_id, kol, revenue,
       {credit_expression(model, d, half_life_days)} AS credit
FROM ranked
UNION ALL
SELECT c.id, NULL, '(unattributed)', NULL, NULL, c.revenue, CAST(1 AS DOUBLE PRECISION)
FROM conv c WHERE NOT EXISTS (SELECT 1 FROM path WHERE path.conversion_id = c.id)
"""


def credit_params(
    date_from: dt.datetime,
    date_to: dt.datetime,
    currency: str,
    lookback_days: float,
    timeout_minutes: float,
) -> list:
    """The bound parameters of :func:`credits_sql` for conversions in ``[date_from, date_to)``."""
    touches_from = date_from - dt.timedelta(days=lookback_days, minutes=timeout_minutes)
    return [date_from, date_to, currency, touches_from, date_to]


def attribution_credits(
    db: pw.Database,
    date_from: dt.datetime,
    date_to: dt.datetime,
    model: str,
    currency: str,
    lookback_days: float = 30,
    half_life_days: float = 7,
    timeout_minutes: float = 30,
) -> list[tuple]:
    """Every credit of every conversion in ``[date_from, date_to)``: ``(conversion_id,
    touchpoint_id, channel_group, campaign_id, kol, revenue, credit)``."""
    d = dialect(db)
    sql = credits_sql(d, model, lookback_days, half_life_days, timeout_minutes)
    params = credit_params(date_from, date_to, currency, lookback_days, timeout_minutes)
    return run(db, sql, params)


def run(db: pw.Database, query: str, params: list) -> list[tuple]:
    """Run an analytical statement and fetch its rows. On PostgreSQL, for this statement only: JIT
    off (these statements are costed high enough to trigger it, and compiling took longer than
    running, measured) and more sort memory (the per-conversion path sorts spilled to disk at the
    4 MB default with 100,000 conversions)."""
    if not is_postgres(db):
        return list(db.execute_sql(query, params).fetchall())
    with db.atomic():
        db.execute_sql("SET LOCAL jit = off")
        db.execute_sql("SET LOCAL work_mem = '64MB'")
        return list(db.execute_sql(query, params).fetchall())


DIMENSIONS = {"channel": "channel_group", "campaign": "campaign_id", "kol": "kol"}


def attributed_totals(
    db: pw.Database,
    dimension: str,
    date_from: dt.datetime,
    date_to: dt.datetime,
    model: str,
    currency: str,
    lookback_days: float = 30,
    half_life_days: float = 7,
    timeout_minutes: float = 30,
) -> dict:
    """``{dimension value: (attributed conversions, attributed revenue)}`` aggregated in SQL."""
    column = DIMENSIONS[dimension]
    d = dialect(db)
    inner = credits_sql(d, model, lookback_days, half_life_days, timeout_minutes)
    sql = (
        f"SELECT {column}, SUM(credit), SUM(credit * revenue) FROM ({inner}) credits "
        f"WHERE credit > 0 GROUP BY {column}"
    )
    params = credit_params(date_from, date_to, currency, lookback_days, timeout_minutes)
    return {row[0]: (float(row[1]), float(row[2])) for row in run(db, sql, params)}


def funnel_sql(d: Dialect, steps: list[str], window_days: float, timeout_minutes: float) -> str:
    """SQL of ``(session_channel, depth, people)``: for each person with a step-1 event in the
    range, the deepest step reached from their best start and that start's session channel.

    Parameters, in order: touches from, touches before (for sessions), the step-1 event type,
    starts from, starts before, then each later step's event type.
    """
    window_s = _positive(window_days, "window_days") * 86400.0
    timeout_s = _positive(timeout_minutes, "timeout_minutes") * 60.0
    p = d.param
    # each later step needs the time of the one before it: one CTE per step, each adding t<k>
    ctes = []
    source = "s1"
    for k in range(2, len(steps) + 1):
        strict = ">" if steps[k - 1] == steps[k - 2] else ">="
        # when the previous step was never reached its time is NULL, the comparison is never
        # true and MIN() gives NULL: no CASE needed. MATERIALIZED keeps each lookup computed once
        # (inlined, the planner would repeat the subquery wherever the column is used).
        ctes.append(
            f"""f{k} AS MATERIALIZED (
    SELECT {source}.*, (
        SELECT MIN(e.occurred_at) FROM {TOUCH} e
        WHERE e.subject = {source}.subject AND e.event_type = {p}
          AND e.occurred_at {strict} {source}.t{k - 1}
          AND {d.at_most("e.occurred_at", f"{source}.t1", window_s)}) AS t{k}
    FROM {source}
)"""
        )
        source = f"f{k}"
    ctes_sql = ",\n".join(ctes)
    depth = " + ".join(
        ["1"] + [f"CASE WHEN t{k} IS NOT NULL THEN 1 ELSE 0 END" for k in range(2, len(steps) + 1)]
    )
    return f"""
WITH tp AS (
    SELECT id, subject, event_type, occurred_at, channel_group,
           LAG(occurred_at) OVER w AS prev_at, ROW_NUMBER() OVER w AS rn
    FROM {TOUCH} WHERE occurred_at >= {p} AND occurred_at < {p}
    WINDOW w AS (PARTITION BY subject ORDER BY occurred_at, id)
),
sessioned AS (
    -- the channel of the latest session start at or before each row: a running MAX over
    -- "zero-padded row number || channel" of the start rows, in the order the LAG already
    -- sorted by (one pass, no re-sort by session)
    SELECT id, subject, event_type, occurred_at, SUBSTR(MAX(
               CASE WHEN prev_at IS NULL OR {d.more_than("occurred_at", "prev_at", timeout_s)}
                    THEN {d.padded("rn")} || channel_group END)
           OVER (PARTITION BY subject ORDER BY occurred_at, id ROWS UNBOUNDED PRECEDING), 13) AS session_channel
    FROM tp
),
s1 AS (
    SELECT id, subject, occurred_at AS t1, session_channel FROM sessioned
    WHERE event_type = {p} AND occurred_at >= {p} AND occurred_at < {p}
),
{ctes_sql},
best AS (
    SELECT subject, session_channel, {depth} AS depth, t1, id FROM {source}
),
chosen AS (
    SELECT subject, session_channel, depth,
           ROW_NUMBER() OVER (PARTITION BY subject ORDER BY depth DESC, t1, id) AS rn
    FROM best
)
SELECT session_channel, depth, COUNT(*) FROM chosen WHERE rn = 1 GROUP BY session_channel, depth
"""


def funnel_counts(
    db: pw.Database,
    steps: list[str],
    date_from: dt.datetime,
    date_to: dt.datetime,
    window_days: float = 14,
    timeout_minutes: float = 30,
    session_margin: dt.timedelta = dt.timedelta(days=1),
) -> dict[str, list[int]]:
    """``{session channel: [people reaching step 1, step 2, ...]}`` for funnels starting in
    ``[date_from, date_to)``. Sessions are rebuilt from touches up to ``session_margin`` before
    the range (a visit longer than that is cut there)."""
    if len(steps) < 2:
        raise ValueError("a funnel needs at least two steps")
    d = dialect(db)
    sql = funnel_sql(d, list(steps), window_days, timeout_minutes)
    params = [date_from - session_margin, date_to, steps[0], date_from, date_to, *steps[1:]]
    out: dict[str, list[int]] = {}
    for channel, depth, people in run(db, sql, params):
        per = out.setdefault(channel or "unknown", [0] * len(steps))
        for k in range(int(depth)):
            per[k] += int(people)
    return out
