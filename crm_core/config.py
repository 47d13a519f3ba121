"""Configuration: defaults, an optional instance file (``crm.toml``) and ``CRM_*`` environment variables.

Later sources win: defaults < instance file < environment < the ``config`` passed to
``create_app``. Unknown keys and values of the wrong type stop the app at startup with a message
naming the key, rather than failing later in a request.

The core's settings are :data:`SETTINGS`; a plugin declares its own through the ``crm_settings``
hook, each key starting with the plugin's prefix (:func:`setting_prefix`), and they are read from
the same sources with the same checks (:class:`PluginSettings`). The keys of an installed plugin
that is disabled or failed to load are accepted and ignored, so disabling a plugin never needs an
edit of ``crm.toml`` or the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field
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
    "DATABASE_REPLICA_URL": Setting(
        str,
        "",
        "PostgreSQL streaming replica for reads that tolerate lag (dashboard, exports); default: none, "
        "all reads on DATABASE_URL",
    ),
    "DATABASE_REPLICA_MAX_LAG_SECONDS": Setting(
        int, 30, "read from the primary while the replica is more than this many seconds behind; 0 = any lag"
    ),
    "SECRET_KEY": Setting(
        str, "", "signs sessions and CSRF tokens; generated into the instance folder if unset"
    ),
    "INSTANCE_PATH": Setting(str, "", "folder for the SQLite file, generated secrets and crm.toml"),
    "PLUGINS_DISABLED": Setting(str, "", "comma-separated plugin names not to load"),
    "RATELIMIT_STORAGE_URL": Setting(str, "memory://", "Flask-Limiter storage (memory:// or redis://...)"),
    "RATELIMIT_ENABLED": Setting(bool, True, "turn rate limits off (tests of other behaviour)"),
    "TRUSTED_PROXIES": Setting(
        int,
        0,
        "reverse proxies in front (nginx, an ingress): their X-Forwarded-For/-Proto/-Host are believed",
    ),
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
    "GRAPHQL_MAX_DEPTH": Setting(int, 15, "deepest field nesting a GraphQL query may have (docs/graphql.md)"),
    "GRAPHQL_MAX_COST": Setting(
        int, 5000, "GraphQL query cost limit: fields selected, times the page sizes above them"
    ),
    "ENCRYPTION_CIPHER": Setting(
        str, "", "AES-256-GCM or SM4-GCM for new data keys; default SM4-GCM when LOCALE is zh_CN, else AES"
    ),
    "ENCRYPTION_MASTER_KEY": Setting(
        str, "", "master key wrapping the data keys: 32 bytes, base64; default: ENCRYPTION_MASTER_KEY_FILE"
    ),
    "ENCRYPTION_MASTER_KEY_FILE": Setting(
        str, "", "file holding the master key; default master_key in the instance folder, generated if absent"
    ),
    "ENCRYPTION_MASTER_KEY_PREVIOUS": Setting(
        str, "", "during a master key rotation: the master key being replaced (base64); see crm keys rewrap"
    ),
    "ENCRYPTION_KEY_WRAPPER": Setting(
        str, "local", "what wraps new data keys: local (the master key) or a crm_key_wrappers name (a KMS)"
    ),
    "DEFAULT_PHONE_REGION": Setting(str, "CN", "region for phone numbers written without a country code"),
    "TIMEZONE": Setting(
        str, "UTC", "IANA time zone pages show times in (e.g. Asia/Shanghai); each user may pick their own"
    ),
    "ADMIN_USERNAME": Setting(str, "admin", "first admin created by `crm init`"),
    "ADMIN_PASSWORD": Setting(str, "", "its password; generated and printed once when unset"),
    "LOCALE": Setting(str, "", "zh_CN or en: language of seeded data (`crm init`, demo); default from LANG"),
    "LOG_LEVEL": Setting(str, "INFO", "logging level"),
    # operations (crm_core.ops, docs/operations.md)
    "LOG_FORMAT": Setting(
        str, "text", "log lines as text or json (one JSON object a line; json for crm serve)"
    ),
    "SLOW_QUERY_MS": Setting(
        int, 0, "log SQL statements slower than this many ms, without their values; 0 = off"
    ),
    "LIST_COUNT_CAP": Setting(
        int,
        10_000,
        "lists count their total exactly up to this many rows, beyond it say 'at least'; 0 = always exact",
    ),
    "METRICS_TOKEN": Setting(
        str, "", "bearer token Prometheus sends to GET /metrics; empty = /metrics answers 404"
    ),
    "HEALTH_HEARTBEAT_MAX_AGE": Setting(
        int, 60, "seconds the scheduler heartbeat may be old before /health/ready fails; 0 = not checked"
    ),
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
    # retention (crm_core.retention: the daily job core:retention), 1 to 36500 days
    "OUTBOX_RETENTION_DAYS": Setting(
        int,
        730,
        "days dispatched events stay in the outbox (automation conditions count events no further back)",
    ),
    "WEBHOOK_LOG_RETENTION_DAYS": Setting(int, 30, "days finished webhook deliveries and attempts are kept"),
    "JOB_RUN_RETENTION_DAYS": Setting(int, 30, "days finished job runs are kept (and at most 1000 per job)"),
}

# the types _coerce can read from text (environment variables are always text)
SETTING_TYPES = (str, int, bool)
# CRM_TEST_* variables belong to the test suite, never to the configuration
_RESERVED_PREFIX = "TEST_"


@dataclass(frozen=True)
class PluginSettings:
    """The settings the loaded plugins declare (``crm_settings``), and the key prefixes of the
    installed plugins that are not loaded (disabled or failed), whose keys are ignored."""

    settings: dict[str, Setting] = field(default_factory=dict)
    declared_by: dict[str, str] = field(default_factory=dict)
    ignored_prefixes: tuple[str, ...] = ()


def setting_prefix(plugin_name: str) -> str:
    """The prefix every setting of ``plugin_name`` starts with: its name in upper case, each
    character that cannot be part of an environment variable name as ``_``, and a trailing ``_``
    (``channel_tracking`` -> ``CHANNEL_TRACKING_``, ``core.auth`` -> ``CORE_AUTH_``)."""
    return re.sub(r"[^A-Z0-9]", "_", plugin_name.upper()) + "_"


def plugin_settings(
    declarations: list[tuple[str, dict[str, Setting]]], inactive: tuple[str, ...] | list[str] = ()
) -> PluginSettings:
    """Check and merge what each plugin's ``crm_settings`` returned: ``declarations`` is
    ``[(plugin_name, {key: Setting})]``, ``inactive`` the names of installed plugins that are
    disabled or failed to load.

    Raises ``ConfigError`` naming the plugin and the key when a key lacks the plugin's prefix, is
    not upper case, is a core setting, is declared by two plugins, or is not a :class:`Setting`
    of a type the environment can carry (str, int, bool) with a default of that type.
    """
    merged = PluginSettings(ignored_prefixes=tuple(setting_prefix(name) for name in inactive))
    for plugin, declared in declarations:
        if not isinstance(declared, dict):
            raise ConfigError(f"plugin {plugin!r}: crm_settings must return a dict, got {declared!r}")
        for key, setting in declared.items():
            _check_declaration(plugin, key, setting)
            if key in merged.settings:
                raise ConfigError(
                    f"{key}: declared by both plugin {merged.declared_by[key]!r} and plugin {plugin!r}"
                )
            merged.settings[key] = setting
            merged.declared_by[key] = plugin
    return merged


def _check_declaration(plugin: str, key: object, setting: object) -> None:
    prefix = setting_prefix(plugin)
    if not isinstance(key, str) or not key.startswith(prefix) or key == prefix or key != key.upper():
        raise ConfigError(f"plugin {plugin!r}: setting {key!r} must be upper case and start with {prefix}")
    if prefix.startswith(_RESERVED_PREFIX):
        raise ConfigError(f"plugin {plugin!r}: {key}: CRM_{_RESERVED_PREFIX}* is reserved for tests")
    if key in SETTINGS:
        raise ConfigError(f"plugin {plugin!r}: {key} is a core setting")
    if not isinstance(setting, Setting):
        raise ConfigError(f"plugin {plugin!r}: {key} must be a crm_core.config.Setting, got {setting!r}")
    if setting.type not in SETTING_TYPES or type(setting.default) is not setting.type:
        raise ConfigError(
            f"plugin {plugin!r}: {key}: type must be str, int or bool and the default of that type, "
            f"got {setting.type!r} with default {setting.default!r}"
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(key: str, value: object, setting: Setting) -> object:
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


def read_setting(key: str, overrides: dict | None = None, environ: dict | None = None) -> object:
    """One core setting from the same sources as :func:`load_config`, before the whole
    configuration can be checked: ``create_app`` needs ``PLUGINS_DISABLED`` to load the plugins,
    and the loaded plugins decide which other keys are known."""
    overrides = dict(overrides or {})
    _instance, file_values, env_values = _sources(overrides, environ)
    value = SETTINGS[key].default
    for source in (file_values, env_values, overrides):
        if key in source:
            value = source[key]
    return _coerce(key, value, SETTINGS[key])


def load_config(
    overrides: dict | None = None, environ: dict | None = None, plugins: PluginSettings | None = None
) -> dict:
    """Build the validated configuration dict that ``create_app`` puts on ``app.config``.

    ``overrides`` may also carry Flask's own keys (anything not in ``SETTINGS`` that Flask or an
    extension knows, e.g. ``WTF_CSRF_ENABLED``); those are passed through untouched. ``plugins``
    adds the settings the loaded plugins declare (:func:`plugin_settings`); without it only the
    core's keys are known.
    """
    plugins = plugins or PluginSettings()
    known = {**SETTINGS, **plugins.settings}
    overrides = dict(overrides or {})
    instance, file_values, env_values = _sources(overrides, environ)
    env_values = _known_keys(env_values, known, plugins, "unknown environment variable(s)", "CRM_")
    file_values = _known_keys(file_values, known, plugins, f"{instance / 'crm.toml'}: unknown setting(s)")

    config = {key: s.default for key, s in known.items()}
    for source in (file_values, env_values):
        for key, value in source.items():
            config[key] = _coerce(key, value, known[key])
    for key, value in overrides.items():
        config[key] = _coerce(key, value, known[key]) if key in known else value
    config["INSTANCE_PATH"] = str(instance.resolve())
    _validate(config)
    return config


def describe(plugins: PluginSettings | None = None) -> list[dict]:
    """Every known setting as ``{"key", "variable", "type", "default", "help", "declared_by"}``
    (``declared_by`` is ``"core"`` or the plugin's name), the core's first: what ``crm settings``
    lists."""
    plugins = plugins or PluginSettings()
    known = [(key, s, "core") for key, s in SETTINGS.items()]
    known += [(key, s, plugins.declared_by[key]) for key, s in plugins.settings.items()]
    return [
        {
            "key": key,
            "variable": f"CRM_{key}",
            "type": setting.type.__name__,
            "default": setting.default,
            "help": setting.help,
            "declared_by": declared_by,
        }
        for key, setting, declared_by in known
    ]


def _sources(overrides: dict, environ: dict | None) -> tuple[Path, dict, dict]:
    """The instance folder, the instance file's values and the ``CRM_*`` environment's values
    (keys upper case, without ``CRM_``), not yet checked against the known settings."""
    environ = os.environ if environ is None else environ
    env_values = {
        k[4:]: v for k, v in environ.items() if k.startswith("CRM_") and not k.startswith("CRM_TEST_")
    }
    instance = Path(
        overrides.get("INSTANCE_PATH") or env_values.get("INSTANCE_PATH") or Path.cwd() / "instance"
    )
    return instance, _read_instance_file(instance / "crm.toml"), env_values


def _known_keys(
    values: dict, known: dict, plugins: PluginSettings, message: str, shown_prefix: str = ""
) -> dict:
    """``values`` without the keys of inactive plugins; ``ConfigError`` listing any other key
    that is neither a core setting nor declared by a loaded plugin."""
    kept = {k: v for k, v in values.items() if k in known or not k.startswith(plugins.ignored_prefixes)}
    unknown = sorted(set(kept) - set(known))
    if unknown:
        raise ConfigError(f"{message}: {', '.join(shown_prefix + k for k in unknown)}")
    return kept


def _read_instance_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return {k.upper(): v for k, v in data.items()}


def _validate(config: dict) -> None:
    if not 365 <= config["AUDIT_RETENTION_DAYS"] <= 3650:
        raise ConfigError("AUDIT_RETENTION_DAYS: must be between 365 and 3650 (1 to 10 years)")
    if config["AUDIT_KEY"] and len(config["AUDIT_KEY"]) < 32:
        raise ConfigError("AUDIT_KEY: use at least 32 characters (e.g. `openssl rand -hex 32`)")
    if config["ENCRYPTION_CIPHER"] not in ("", "AES-256-GCM", "SM4-GCM"):
        raise ConfigError("ENCRYPTION_CIPHER: must be AES-256-GCM or SM4-GCM")
    if config["MAX_CONTENT_LENGTH"] <= 0:
        raise ConfigError("MAX_CONTENT_LENGTH: must be positive")
    if not 0 <= config["TRUSTED_PROXIES"] <= 10:
        raise ConfigError("TRUSTED_PROXIES: a number of proxies from 0 to 10")
    base = config["BASE_URL"]
    if base:
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"BASE_URL: give the public http(s) URL of the CRM, got {base!r}")
    url = config["DATABASE_URL"]
    if url and url.split(":", 1)[0] not in ("sqlite", *POSTGRES_SCHEMES):
        raise ConfigError(f"DATABASE_URL: unsupported scheme in {url!r} (use sqlite:/// or postgresql://)")
    replica = config["DATABASE_REPLICA_URL"]
    if replica and replica.split(":", 1)[0] not in POSTGRES_SCHEMES:
        raise ConfigError(f"DATABASE_REPLICA_URL: a PostgreSQL replica's postgresql:// URL, got {replica!r}")
    if config["DATABASE_REPLICA_MAX_LAG_SECONDS"] < 0:
        raise ConfigError("DATABASE_REPLICA_MAX_LAG_SECONDS: must be 0 or more")


#: URL schemes of a PostgreSQL database (``+pool``: peewee's pooled connections)
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgres+pool", "postgresql+pool")


def ensure_secret_key(config: dict) -> str:
    """Return SECRET_KEY, generating and keeping one in the instance folder when none is set."""
    if config["SECRET_KEY"]:
        return config["SECRET_KEY"]
    return kept_secret(Path(config["INSTANCE_PATH"]) / "secret_key", lambda: secrets.token_hex(32))


def kept_secret(path: Path, make) -> str:
    """The secret kept in ``path``; made by ``make()`` and written with mode 0600 when absent.

    Several processes or threads may start at once (gunicorn workers, the first writes of a new
    instance): the secret is written whole to a private temporary file and linked into place, so
    nobody reads a half-written file and the first to link wins for everyone."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp makes it 0600
            f.write(make())
        # another process may have linked its secret first: then theirs is the secret
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
