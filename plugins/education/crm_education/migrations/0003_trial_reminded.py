"""When a booked trial's reminder (``trial.reminder``) went out: once per trial."""

import peewee as pw


def up(migrator, db):
    migrator.migrate(migrator.add_column("education_trial", "reminded_at", pw.DateTimeField(null=True)))
