"""A shop's webhook secrets and platform credentials, sealed as one envelope token.

The token (``Shop.secrets_token``) holds ``{"webhook": [current, previous?], "credentials": {...}}``
sealed with the context ``ecommerce/shops/<key>/secrets``: bound to the shop's own key, so a token
copied onto another shop does not open. Nothing here is ever dumped by the API; the shop's
schema shows only whether a secret is set. Key rotation reaches the tokens through
:data:`SEALED` (``crm_sealed_values``).
"""

from __future__ import annotations

from crm_core.plugin_api import SealedValues, open_value, seal_value

from .models import Delivery, Shop


def context(key: str) -> str:
    """The context a shop's token is sealed with."""
    return f"ecommerce/shops/{key}/secrets"


def delivery_context(shop_id: int, dedupe_key: str) -> str:
    """The context a stored webhook body is sealed with."""
    return f"ecommerce/deliveries/{shop_id}/{dedupe_key}"


def opened(shop: Shop) -> dict:
    """The shop's secrets as a dict (empty when none are set)."""
    if not shop.secrets_token:
        return {}
    return open_value(shop.secrets_token, context(shop.key)) or {}


def webhook_secrets(shop: Shop) -> list[str]:
    """The secrets a delivery may be signed with: the current one, then the previous one while a
    rotation is under way."""
    return [s for s in opened(shop).get("webhook") or [] if s]


def credentials(shop: Shop) -> dict:
    """The platform credentials pull sync uses (``{"token": ...}`` or ``{"key", "secret"}``)."""
    return dict(opened(shop).get("credentials") or {})


def seal(shop: Shop, secrets: dict) -> None:
    """Put ``secrets`` on ``shop`` as its token (saved with the shop)."""
    shop.secrets_token = seal_value(secrets, context(shop.key)) if secrets else None


def apply_changes(shop: Shop, data: dict) -> None:
    """Apply the write-only fields of a create or update to the token: ``webhook_secret``
    becomes the current secret (the old one stays accepted until ``end_rotation``),
    ``credentials`` replaces the credentials."""
    secrets = opened(shop) if shop.secrets_token else {}
    if data.get("webhook_secret"):
        current = [s for s in secrets.get("webhook") or [] if s]
        secrets["webhook"] = [data["webhook_secret"], *current[:1]]
    if "credentials" in data:
        secrets["credentials"] = data["credentials"] or {}
    seal(shop, secrets)


def end_rotation(shop: Shop) -> None:
    """Stop accepting the previous webhook secret."""
    secrets = opened(shop)
    secrets["webhook"] = (secrets.get("webhook") or [])[:1]
    seal(shop, secrets)


SEALED = [
    SealedValues(
        "ecommerce.shops.secrets",
        Shop,
        Shop.secrets_token,
        context=lambda row_id, key: context(key),
        context_columns=(Shop.key,),
    ),
    SealedValues(
        "ecommerce.deliveries.body",
        Delivery,
        Delivery.body_token,
        context=lambda row_id, shop_id, dedupe_key: delivery_context(shop_id, dedupe_key),
        context_columns=(Delivery.shop, Delivery.dedupe_key),
    ),
]
