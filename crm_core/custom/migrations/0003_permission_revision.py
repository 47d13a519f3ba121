"""A change to a custom field definition bumps the permission revision in its own transaction
(see ``crm_core.permissions.revision`` and the permissions' migration ``0003_revision``, which
makes the row, the PostgreSQL trigger function and the triggers on the other tables). Whichever
of the two runs second installs this trigger: the custom fields do not depend on permissions."""

import peewee as pw

SQLITE_BUMP = (
    "UPDATE permission_revision SET number = number + 1, nonce = lower(hex(randomblob(16))) WHERE id = 1"
)


def up(migrator, db):
    if not db.table_exists("permission_revision"):
        return  # the permissions' 0003_revision installs it when it runs
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql("DROP TRIGGER IF EXISTS metadata_field_permission_revision ON metadata_field")
        db.execute_sql(
            "CREATE TRIGGER metadata_field_permission_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            "ON metadata_field FOR EACH STATEMENT EXECUTE FUNCTION crm_permission_revision_bump()"
        )
        return
    for kind in ("INSERT", "UPDATE", "DELETE"):
        db.execute_sql(
            f"CREATE TRIGGER IF NOT EXISTS metadata_field_permission_revision_{kind.lower()} "
            f"AFTER {kind} ON metadata_field BEGIN {SQLITE_BUMP}; END"
        )
