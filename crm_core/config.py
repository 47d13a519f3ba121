"""Configuration: defaults, an optional instance file (``crm.toml``) and ``CRM_*`` environment variables.

Later sources win: defaults < instance file < environment < the ``config`` passed to
``create_app``. Unknown keys and values of the wrong type stop the app at startup with a message
naming the key, rather than failing later in a request.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is wrong."""


@dataclass(frozen=True)
class Setting:
    """One known setting: its type, default and one line of help."""

    type: type
    default: object
    help: str


SETTINGS: dict[str, Setting] = {
    "DATABASE_URL": Setting(str, "", "peewee db_url; default: SQLite file crm.db in the instance folder"),
    "SECRET_KEY": Setting(
        str, "", "signs sessions and CSRF tokens; generated into the instance folder if unset"
    ),
    "INSTANCE_PATH": Setting(str, "", "folder for the SQLite file, generated secrets and crm.toml"),
    "PLUGINS_DISABLED": Setting(str, "", "comma-separated plugin names not to load"),
    "RATELIMIT_STORAGE_URL": Setting(str, "memory://", "Flask-Limiter storage (memory:// or redis://...)"),
    "RATELIMIT_ENABLED": Setting(bool, True, "turn rate limits off (tests of other behaviour)"),
    "RATELIMIT_DEFAULT": Setting(
        str, "600/minute", "calls per user / OAuth client (per IP if anonymous) across all endpoints"
    ),
    "RATELIMIT_ENDPOINT": Setting(str, "300/minute", "calls per user / OAuth client to any one endpoint"),
    "RATELIMIT_HEAVY": Setting(
        str, "30/minute", "calls per user / OAuth client to one export, import, erase or bulk endpoint"
    ),
    "RATELIMIT_KEY_PREFIX": Setting(
        str, "", "prefix of rate-limit keys in a shared store; default: derived from secret and database"
    ),
    "RATELIMIT_LOGIN": Setting(str, "10/minute", "failed logins and OAuth token requests per IP"),
    "LOGIN_MAX_FAILURES": Setting(
        int, 5, "failed logins in a row before that username is locked out from that IP for a while"
    ),
    "LOGIN_LOCKOUT_SECONDS": Setting(int, 60, "first lockout; doubles with each further failure, max 1 h"),
    "MAX_CONTENT_LENGTH": Setting(int, 20 * 1024 * 1024, "largest request body in bytes (413 above it)"),
    "BASE_URL": Setting(
        str,
        "",
        "public URL of the CRM (https://crm.example.com): absolute links (short links, QR codes) are "
        "built from it, never from the request's Host; default http://127.0.0.1:5000",
    ),
    "SESSION_COOKIE_SECURE": Setting(
        bool, False, "send the workbench session cookie over HTTPS only (always on when BASE_URL is https)"
    ),
    "TOKEN_TTL_SECONDS": Setting(int, 3600 * 12, "lifetime of login bearer tokens"),
    "AUDIT_RETENTION_DAYS": Setting(int, 365 * 3, "audit log retention, 365 to 3650 days"),
    "AUDIT_KEY": Setting(
        str,
        "",
        "key of the audit chain's HMAC (>= 32 characters; keep it out of the database and stable); "
        "default: derived from SECRET_KEY",
    ),
    "AUDIT_SENSITIVE_RESOURCES": Setting(
        str, "", "comma-separated resources whose single-record reads are audited (plugins mark their own)"
    ),
    "ENCRYPTION_ALGORITHM": Setting(str, "AES-256-GCM", "AES-256-GCM or SM4-GCM for sensitive fields"),
    "DEFAULT_PHONE_REGION": Setting(str, "CN", "region for phone numbers written without a country code"),
    "TIMEZONE": Setting(
        str, "UTC", "IANA time zone pages show times in (e.g. Asia/Shanghai); each user may pick their own"
    ),
    "ADMIN_USERNAME": Setting(str, "admin", "first admin created by `crm init`"),
    "ADMIN_PASSWORD": Setting(str, "", "its password; generated and printed once when unset"),
    "LOCALE": Setting(str, "", "zh_CN or en: language of seeded data (`crm init`, demo); default from LANG"),
    "LOG_LEVEL": Setting(str, "INFO", "logging level"),
    "TESTING": Setting(bool, False, "Flask testing mode"),
    "DEBUG": Setting(bool, False, "Flask debug mode"),
    # long work as tasks (crm_core.jobs.tasks)
    "TASKS_RUN_IN_WEB": Setting(
        bool,
        False,
        "also run a queued task (import, large export) in a thread of the web process right after "
        "the request, instead of only by the scheduler (single-process setups)",
    ),
    "IMPORT_SYNC_MAX_ROWS": Setting(
        int, 1000, "largest import that ?sync=true may run inside the request (larger ones become tasks)"
    ),
    "EXPORT_TASK_ROWS": Setting(
        int, 5000, "exports of more rows than this run as a task producing a file to download"
    ),
    # events and webhooks (crm_core.events, crm_core.webhooks)
    "WEBHOOK_TIMEOUT_SECONDS": Setting(int, 10, "seconds to wait for a webhook receiver's answer"),
    "WEBHOOK_MAX_ATTEMPTS": Setting(int, 8, "delivery attempts before a subscription is marked failing"),
    "WEBHOOK_RETRY_BASE_SECONDS": Setting(int, 30, "first retry delay; doubles each attempt (+/-20% jitter)"),
    "WEBHOOK_CONCURRENCY": Setting(int, 8, "webhook deliveries sent in parallel by the scheduler"),
    "WEBHOOK_ALLOW_PRIVATE_URLS": Setting(
        bool, False, "allow webhook URLs on loopback/private networks (off: SSRF protection)"
    ),
    # channel_tracking plugin (read with defaults, so the plugin also works without these keys)
    "CHANNEL_TRACKING_LOOKBACK_DAYS": Setting(int, 30, "attribution lookback window in days"),
    "CHANNEL_TRACKING_HALF_LIFE_DAYS": Setting(int, 7, "time-decay attribution half-life in days"),
    "CHANNEL_TRACKING_SESSION_TIMEOUT_MINUTES": Setting(int, 30, "inactivity that starts a new session"),
    "CHANNEL_TRACKING_FUNNEL_WINDOW_DAYS": Setting(int, 14, "funnel conversion window in days"),
    "CHANNEL_TRACKING_CURRENCY": Setting(str, "CNY", "currency of conversions and spend without one"),
    "CHANNEL_TRACKING_CORS_ORIGINS": Setting(str, "*", "origins allowed to send events (comma list or *)"),
    "CHANNEL_TRACKING_RATE_LIMIT": Setting(str, "3000/minute", "ingestion requests per key (limits syntax)"),
    "CHANNEL_TRACKING_REDIRECT_DOMAINS": Setting(
        str, "", "hosts tracking links may redirect to (comma list; subdomains included)"
    ),
    "CHANNEL_TRACKING_RETENTION_MONTHS": Setting(int, 25, "months of touchpoints kept"),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(key: str, value: object) -> object:
    setting = SETTINGS[key]
    if setting.type is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if setting.type is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}") from None
    return str(value)


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Build the validated configuration dict that ``create_app`` puts on ``app.config``.

    ``overrides`` may also carry Flask's own keys (anything not in ``SETTINGS`` that Flask or an
    extension knows, e.g. ``WTF_CSRF_ENABLED``); those are passed through untouched.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    env_values = {
        k[4:]: v for k, v in environ.items() if k.startswith("CRM_") and not k.startswith("CRM_TEST_")
    }
    unknown_env = sorted(set(env_values) - set(SETTINGS))
    if unknown_env:
        raise ConfigError(f"unknown environment variable(s): {', '.join('CRM_' + k for k in unknown_env)}")

    instance = Path(
        overrides.get("INSTANCE_PATH") or env_values.get("INSTANCE_PATH") or Path.cwd() / "instance"
    )
    file_values = _read_instance_file(instance / "crm.toml")

    config = {key: s.default for key, s in SETTINGS.items()}
    for source in (file_values, env_values):
        for key, value in source.items():
            config[key] = _coerce(key, value)
    for key, value in overrides.items():
        config[key] = _coerce(key, value) if key in SETTINGS else value
    config["INSTANCE_PATH"] = str(instance.resolve())
    _validate(config)
    return config


def _read_instance_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    data = {k.upper(): v for k, v in data.items()}
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s): {', '.join(unknown)}")
    return data


def _validate(config: dict) -> None:
    if not 365 <= config["AUDIT_RETENTION_DAYS"] <= 3650:
        raise ConfigError("AUDIT_RETENTION_DAYS: must be between 365 and 3650 (1 to 10 years)")
    if config["AUDIT_KEY"] and len(config["AUDIT_KEY"]) < 32:
        raise ConfigError("AUDIT_KEY: use at least 32 characters (e.g. `openssl rand -hex 32`)")
    if config["ENCRYPTION_ALGORITHM"] not in ("AES-256-GCM", "SM4-GCM"):
        raise ConfigError("ENCRYPTION_ALGORITHM: must be AES-256-GCM or SM4-GCM")
    if config["MAX_CONTENT_LENGTH"] <= 0:
        raise ConfigError("MAX_CONTENT_LENGTH: must be positive")
    base = config["BASE_URL"]
    if base:
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"BASE_URL: give the public http(s) URL of the CRM, got {base!r}")
    url = config["DATABASE_URL"]
    if url and url.split(":", 1)[0] not in (
        "sqlite",
        "postgres",
        "postgresql",
        "postgres+pool",
        "postgresql+pool",
    ):
        raise ConfigError(f"DATABASE_URL: unsupported scheme in {url!r} (use sqlite:/// or postgresql://)")


def ensure_secret_key(config: dict) -> str:
    """Return SECRET_KEY, generating and keeping one in the instance folder when none is set."""
    if config["SECRET_KEY"]:
        return config["SECRET_KEY"]
    path = Path(config["INSTANCE_PATH"]) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
