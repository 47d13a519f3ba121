"""Third-party OAuth2 apps (authorization code + PKCE): client kinds, redirect URIs, codes and
rotating refresh tokens. An app is not bound to one user, so ``oauth_client.user_id`` may be NULL."""

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
        class Meta:
            table_name = "oauth_client"

    class AccessToken(Base):
        class Meta:
            table_name = "access_token"

    class OAuthCode(Base):
        code_hash = pw.CharField(max_length=64, unique=True)
        client = pw.ForeignKeyField(OAuthClient, on_delete="CASCADE")
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        redirect_uri = pw.TextField()
        scopes = pw.TextField(default="")
        code_challenge = pw.CharField(max_length=128)
        code_challenge_method = pw.CharField(max_length=10, default="S256")
        expires_at = pw.DateTimeField(index=True)
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "oauth_code"

    class OAuthRefreshToken(Base):
        token_hash = pw.CharField(max_length=64, unique=True)
        family = pw.IntegerField(index=True)
        client = pw.ForeignKeyField(OAuthClient, on_delete="CASCADE")
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        scopes = pw.TextField(default="")
        access_token = pw.ForeignKeyField(AccessToken, null=True, on_delete="SET NULL")
        expires_at = pw.DateTimeField()
        rotated_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "oauth_refresh_token"

    migrator.migrate(
        migrator.add_column(
            "oauth_client", "grant_types", pw.CharField(max_length=100, default="client_credentials")
        ),
        migrator.add_column("oauth_client", "redirect_uris", pw.TextField(default="")),
        migrator.add_column("oauth_client", "public", pw.BooleanField(default=False)),
        migrator.drop_not_null("oauth_client", "user_id"),
    )
    db.create_tables([OAuthCode, OAuthRefreshToken])
    # "the apps this user authorized" and the revocation of one app for one user
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS oauth_refresh_token_user_client ON oauth_refresh_token (user_id, client_id)"
    )
