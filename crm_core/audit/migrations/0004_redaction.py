"""Redaction: entries record the version of their hash, and the append-only trigger lets a
redaction change the before/after images of sealed entries, nothing else.

``hash_version`` NULL is version 1 (every entry sealed so far); new entries are sealed in version
2, which hashes each image leaf as a keyed digest so a value can be replaced by a redaction marker
carrying that digest (``crm_core.audit.hashing``). On PostgreSQL the trigger function gains a
door: with ``SET LOCAL crm.audit_redact = 'on'`` (``crm_core.audit.redaction``, in the erasure's
own transaction) a sealed entry may change ``before`` and ``after`` only. On SQLite the redaction
drops and re-creates the update trigger inside its transaction, as the purge does for deletes.
"""

import peewee as pw

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('crm.audit_purge', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_entry is append-only (delete refused)';
    END IF;
    IF current_setting('crm.audit_redact', true) = 'on'
       AND (NEW.id, NEW.seq, NEW.prev_hash, NEW.hash, NEW.hash_version, NEW.occurred_at, NEW.kind,
            NEW.actor_id, NEW.actor_name, NEW.client_id, NEW.resource, NEW.record_id, NEW.action,
            NEW.owner_id, NEW.department_id, NEW.request_id, NEW.ip)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.seq, OLD.prev_hash, OLD.hash, OLD.hash_version, OLD.occurred_at, OLD.kind,
            OLD.actor_id, OLD.actor_name, OLD.client_id, OLD.resource, OLD.record_id, OLD.action,
            OLD.owner_id, OLD.department_id, OLD.request_id, OLD.ip) THEN
        RETURN NEW;
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
"""


def up(migrator, db):
    migrator.migrate(migrator.add_column("audit_entry", "hash_version", pw.SmallIntegerField(null=True)))
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql(PG_FUNCTION)
