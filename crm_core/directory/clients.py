"""OAuth2 clients as administrators register them: a name, the user they act as, and scopes that
must name real permissions (the token endpoint itself is ``crm_core.auth.oauth``)."""

from __future__ import annotations

import secrets

from ..auth.models import OAuthClient, User
from ..auth.oauth import secret_hash
from ..errors import APIError
from ..permissions import validate_scope_strings


def create_client(name: str, user_id: int, scopes, created_by: int | None = None) -> tuple[OAuthClient, str]:
    """Create a client; returns (row, raw secret). The secret is shown once and stored hashed."""
    errors = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = ["Must be 1 to 200 characters."]
    user = User.get_or_none(User.id == user_id) if user_id is not None else None
    if user is None:
        errors["user_id"] = [f"No user {user_id}."]
    problems = validate_scope_strings(scopes)
    if problems:
        errors["scopes"] = problems
    if errors:
        raise APIError(422, "Invalid OAuth client.", errors=errors)
    secret = secrets.token_urlsafe(32)
    row = OAuthClient.create(
        client_id="crm_" + secrets.token_hex(12),
        secret_hash=secret_hash(secret),
        name=name,
        user=user,
        scopes=" ".join(sorted(set(scopes))),
        created_by=created_by,
    )
    return row, secret
