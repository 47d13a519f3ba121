"""Each user's time zone (an IANA name such as ``Asia/Shanghai``; NULL: the instance's ``TIMEZONE``)."""

import peewee as pw


def up(migrator, db):
    migrator.migrate(migrator.add_column("user", "timezone", pw.CharField(max_length=64, null=True)))
