"""When a follow-up's next contact was announced (``followup.due``) and when a session still
without roll call after its end was flagged (``session.unconfirmed``, 异常课表): each once."""

import peewee as pw


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("education_follow_up", "reminded_at", pw.DateTimeField(null=True)),
        migrator.add_column("education_session", "flagged_at", pw.DateTimeField(null=True)),
    )
