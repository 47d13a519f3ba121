"""Reversals remember how many points they were asked to undo (``loyalty_entry.requested``).

Under the claw-back policy a reversal books only what it could take at once; the rest is clawed
back later. Counting what was requested keeps a second refund of the same order from reversing
those points twice.
"""

import peewee as pw


def up(migrator, db):
    migrator.migrate(migrator.add_column("loyalty_entry", "requested", pw.IntegerField(default=0)))
