"""The permission revision also moves with what a bearer token resolves to, so workers can keep
resolved tokens (``crm_core.auth.token_cache``) and never use one after it changed: any update of
a user (not only the department and active flag: the name, language, time zone or password an
actor carries too), and an access token's revocation, expiry, scopes, owner or deletion. A new
token (INSERT) and the once-a-minute ``last_used_at`` stamp change nothing kept and bump nothing.
The PostgreSQL trigger function is 0003_revision's."""

import peewee as pw

SQLITE_BUMP = (
    "UPDATE permission_revision SET number = number + 1, nonce = lower(hex(randomblob(16))) WHERE id = 1"
)
TOKEN_COLUMNS = '"user_id", "token_hash", "kind", "name", "expires_at", "revoked_at", "scopes"'
#: (table, the update that matters)
CHANGES = (("user", "UPDATE"), ("access_token", f"UPDATE OF {TOKEN_COLUMNS}"))


def up(migrator, db):
    for table, update in CHANGES:
        if isinstance(db, pw.PostgresqlDatabase):
            name = f"{table}_actor_revision"
            db.execute_sql(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
            db.execute_sql(
                f'CREATE TRIGGER {name} AFTER {update} OR DELETE OR TRUNCATE ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION crm_permission_revision_bump()"
            )
            continue
        for kind, when in (("update", update), ("delete", "DELETE")):
            db.execute_sql(
                f"CREATE TRIGGER IF NOT EXISTS {table}_actor_revision_{kind} "
                f'AFTER {when} ON "{table}" BEGIN {SQLITE_BUMP}; END'
            )
