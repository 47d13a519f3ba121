"""``loyalty_evaluation`` becomes UNLOGGED on PostgreSQL.

It is the scratch table of one tier evaluation: truncated at the start of each run, filled with a
row per member, read and updated inside the run's own transaction, and never read afterwards. Its
million rows went through the write-ahead log for nothing (and were copied to every standby). An
unlogged table skips both; what PostgreSQL does to one after a crash (empties it) is what every
run does anyway. SQLite has no such thing: nothing changes there.
"""

from crm_core.plugin_api import is_postgres


def up(migrator, db):
    if is_postgres(db):
        db.execute_sql("ALTER TABLE loyalty_evaluation SET UNLOGGED")
