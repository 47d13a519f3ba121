"""The permission revision (``crm_core.permissions.revision``): one row whose nonce changes, by
trigger, in the same transaction as every change to user roles, a user's department or active
flag, roles, grants, field rules and departments, so workers can cache grants and field rules
across requests and never serve a revoked right. Custom field definitions (``metadata_field``)
too: here when the custom fields' tables exist already, else by their ``0003_permission_revision``."""

import secrets

import peewee as pw

#: table -> the columns whose change matters (None: any change)
TABLES = {
    "user": ("department_id", "is_active"),
    "user_role": None,
    "role": None,
    "permission_grant": None,
    "permission_field_rule": None,
    "department": None,
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_permission_revision_bump() RETURNS trigger AS $$
BEGIN
    UPDATE permission_revision SET number = number + 1, nonce = md5(random()::text || clock_timestamp()::text)
    WHERE id = 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""

SQLITE_BUMP = (
    "UPDATE permission_revision SET number = number + 1, nonce = lower(hex(randomblob(16))) WHERE id = 1"
)


def pg_triggers(table: str, columns) -> list[str]:
    """The statement-level trigger that bumps the revision on any change to ``table``."""
    update = "UPDATE OF " + ", ".join(f'"{c}"' for c in columns) if columns else "UPDATE"
    name = f"{table}_permission_revision"
    return [
        f'DROP TRIGGER IF EXISTS {name} ON "{table}"',
        f'CREATE TRIGGER {name} AFTER INSERT OR {update} OR DELETE OR TRUNCATE ON "{table}" '
        "FOR EACH STATEMENT EXECUTE FUNCTION crm_permission_revision_bump()",
    ]


def sqlite_triggers(table: str, columns) -> list[str]:
    """One row trigger per kind of change (SQLite has no statement triggers)."""
    update = "UPDATE OF " + ", ".join(f'"{c}"' for c in columns) if columns else "UPDATE"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_permission_revision_{kind.split()[0].lower()} "
        f'AFTER {kind} ON "{table}" BEGIN {SQLITE_BUMP}; END'
        for kind in ("INSERT", update, "DELETE")
    ]


def up(migrator, db):
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql(
            "CREATE TABLE IF NOT EXISTS permission_revision "
            "(id INTEGER PRIMARY KEY, number BIGINT NOT NULL DEFAULT 0, nonce VARCHAR(32) NOT NULL)"
        )
        statements = [PG_FUNCTION] + [s for t, c in TABLES.items() for s in pg_triggers(t, c)]
    else:
        db.execute_sql(
            "CREATE TABLE IF NOT EXISTS permission_revision "
            "(id INTEGER PRIMARY KEY, number INTEGER NOT NULL DEFAULT 0, nonce VARCHAR(32) NOT NULL)"
        )
        statements = [s for t, c in TABLES.items() for s in sqlite_triggers(t, c)]
    # a random first nonce: two databases migrated apart never share one
    nonce = secrets.token_hex(16)  # hex digits only: nothing to quote
    db.execute_sql(f"INSERT INTO permission_revision (id, number, nonce) VALUES (1, 1, '{nonce}')")
    if db.table_exists("metadata_field"):
        statements += (pg_triggers if isinstance(db, pw.PostgresqlDatabase) else sqlite_triggers)(
            "metadata_field", None
        )
    for sql in statements:
        db.execute_sql(sql)
