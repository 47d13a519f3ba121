"""A real foreign key from ``loyalty_member.customer_id`` to ``customer.id``, ON DELETE RESTRICT.

Why RESTRICT (not CASCADE, not SET NULL): a member's ledger is money the business owes (points are
a liability on its books), so it must never vanish as a side effect of deleting a row elsewhere.

- Privacy erasure (``crm_core.privacy.erase_customer``) anonymises the customer row and calls this
  plugin's ``crm_erase_customer``, which deletes the member and its ledger explicitly, children
  first, inside the erasure's transaction. The customer row stays, so the key never fires there.
- A hard ``DELETE /api/v1/customers/<id>`` of a customer who is still a member is refused by the
  database (the core's write path answers 409 "still referenced"): erase the customer first, which
  is the audited, deliberate way to drop a ledger. CASCADE would silently delete the ledger;
  SET NULL is impossible (members are addressed by their customer id, the column is NOT NULL) and
  would leave points nobody can reach.

Orphans: members whose customer no longer exists (possible before this key, e.g. an enrolment of
an id that never existed). They are NOT deleted and NOT re-pointed: the migration refuses, lists
them (member, customer id, entries, balance) and changes nothing, so an operator decides. A
serious CRM does not guess with ledger data: either the customers are restored (same ids, from a
backup), or the members are archived and deleted on purpose; then ``crm migrate`` again.

SQLite cannot add a constraint to an existing table: the table is rebuilt (playhouse.migrate's
own rebuild, as its ``add_not_null`` and ``alter_column_type`` do: new table with the changed
column, copy, drop, rename, indexes re-created), with foreign keys switched off for the duration by
the migration runner; ``PRAGMA foreign_key_check`` on the loyalty tables then proves the copy consistent. PostgreSQL
gets ``ALTER TABLE ... ADD CONSTRAINT``, which validates every existing row.
"""

import peewee as pw
from playhouse.migrate import PostgresqlMigrator

CONSTRAINT = "loyalty_member_customer_id_fkey"

ORPHANS_SQL = (
    "SELECT m.id, m.member_no, m.customer_id,"
    " (SELECT COUNT(*) FROM loyalty_entry e WHERE e.member_id = m.id),"
    " (SELECT COALESCE(SUM(e.points), 0) FROM loyalty_entry e WHERE e.member_id = m.id)"
    " FROM loyalty_member m LEFT JOIN customer c ON c.id = m.customer_id"
    " WHERE c.id IS NULL ORDER BY m.id"
)


class OrphanMembers(RuntimeError):
    """Members refer to customers that do not exist; nothing was changed."""


def orphans(db) -> list[tuple]:
    """(member id, member_no, customer_id, entries, balance) of members without a customer."""
    return list(db.execute_sql(ORPHANS_SQL).fetchall())


def _refuse(rows) -> None:
    shown = "; ".join(
        f"member {mid} ({no}) -> customer {cid}: {entries} ledger entries, balance {points}"
        for mid, no, cid, entries, points in rows[:20]
    )
    more = f" and {len(rows) - 20} more" if len(rows) > 20 else ""
    raise OrphanMembers(
        f"loyalty: {len(rows)} member(s) refer to customers that do not exist: {shown}{more}. "
        "Nothing was changed and no ledger data was deleted. Restore those customers (same ids), "
        "or archive these members' ledgers and delete the members deliberately, then run "
        "`crm migrate` again."
    )


def up(migrator, db):
    rows = orphans(db)
    if rows:
        _refuse(rows)
    if isinstance(migrator, PostgresqlMigrator):
        db.execute_sql(
            f'ALTER TABLE "loyalty_member" ADD CONSTRAINT "{CONSTRAINT}" FOREIGN KEY ("customer_id") '
            'REFERENCES "customer" ("id") ON DELETE RESTRICT'
        )
        return

    def with_reference(column_name, column_def):
        return f'{column_def} REFERENCES "customer" ("id") ON DELETE RESTRICT'

    migrator.migrate(migrator._update_column("loyalty_member", "customer_id", with_reference))
    broken = [
        row
        for table in (
            "loyalty_member",
            "loyalty_entry",
            "loyalty_lot",
            "loyalty_activity",
            "loyalty_tier_change",
        )
        for row in db.execute_sql(f'PRAGMA foreign_key_check("{table}")').fetchall()
    ]
    if broken:
        raise pw.IntegrityError(
            f"loyalty: foreign keys broken after rebuilding loyalty_member: {broken[:10]}"
        )
