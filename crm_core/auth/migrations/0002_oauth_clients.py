"""OAuth2 clients (client credentials, bound to a user and scopes)."""

import datetime

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "user"

    class OAuthClient(Base):
        client_id = pw.CharField(max_length=64, unique=True)
        secret_hash = pw.CharField(max_length=64)
        name = pw.CharField(max_length=200)
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        scopes = pw.TextField(default="")
        created_by = pw.IntegerField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "oauth_client"

    db.create_tables([OAuthClient])
    # token lookups by user (revocation on password change) and by kind/name (client revocation)
    db.execute_sql("CREATE INDEX IF NOT EXISTS access_token_user_kind ON access_token (user_id, kind)")
