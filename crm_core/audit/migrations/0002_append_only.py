"""Append-only in the database too: a sealed entry can be neither changed nor deleted, and an
unsealed one only sealed. The purge (the one legitimate delete) opens the door for its own
transaction only: ``SET LOCAL crm.audit_purge = 'on'`` on PostgreSQL; on SQLite it drops and
re-creates the delete trigger inside its transaction. This does not stop someone who owns the
database (they can drop triggers); the hash chain is what detects them."""

import peewee as pw

PG = [
    """
    CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF current_setting('crm.audit_purge', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit_entry is append-only (delete refused)';
        END IF;
        IF OLD.seq IS NOT NULL OR OLD.hash IS NOT NULL THEN
            RAISE EXCEPTION USING MESSAGE = 'audit_entry is append-only (sealed entry ' || OLD.id || ')';
        END IF;
        IF (NEW.occurred_at, NEW.kind, NEW.actor_id, NEW.actor_name, NEW.client_id, NEW.resource,
            NEW.record_id, NEW.action, NEW.owner_id, NEW.department_id, NEW.before, NEW.after,
            NEW.request_id, NEW.ip)
           IS DISTINCT FROM
           (OLD.occurred_at, OLD.kind, OLD.actor_id, OLD.actor_name, OLD.client_id, OLD.resource,
            OLD.record_id, OLD.action, OLD.owner_id, OLD.department_id, OLD.before, OLD.after,
            OLD.request_id, OLD.ip) THEN
            RAISE EXCEPTION USING MESSAGE = 'audit_entry is append-only (only sealing may update entry ' || OLD.id || ')';
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    """
    CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION crm_audit_append_only()
    """,
]

SQLITE_UPDATE = """
CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry
WHEN OLD.seq IS NOT NULL OR OLD.hash IS NOT NULL
  OR NEW.occurred_at IS NOT OLD.occurred_at OR NEW.kind IS NOT OLD.kind
  OR NEW.actor_id IS NOT OLD.actor_id OR NEW.actor_name IS NOT OLD.actor_name
  OR NEW.client_id IS NOT OLD.client_id OR NEW.resource IS NOT OLD.resource
  OR NEW.record_id IS NOT OLD.record_id OR NEW.action IS NOT OLD.action
  OR NEW.owner_id IS NOT OLD.owner_id OR NEW.department_id IS NOT OLD.department_id
  OR NEW.before IS NOT OLD.before OR NEW.after IS NOT OLD.after
  OR NEW.request_id IS NOT OLD.request_id OR NEW.ip IS NOT OLD.ip
BEGIN
  SELECT RAISE(ABORT, 'audit_entry is append-only (only sealing may update an entry)');
END
"""

SQLITE_DELETE = """
CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry
BEGIN
  SELECT RAISE(ABORT, 'audit_entry is append-only (delete refused)');
END
"""


def up(migrator, db):
    if isinstance(db, pw.PostgresqlDatabase):
        for sql in PG:
            db.execute_sql(sql)
    else:
        db.execute_sql(SQLITE_UPDATE)
        db.execute_sql(SQLITE_DELETE)
