"""The ``crm`` command line: init, migrate, run, serve, plugins, create-user, routes, and the
commands plugins add through ``crm_cli``."""

from __future__ import annotations

import functools
import gc
import os
import signal
import subprocess
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from .app import create_app, load_plugins, load_settings
from .auth import ADMIN_ROLE, create_user
from .auth.models import Role, User, UserRole
from .auth.passwords import describe_errors, generate_password
from .auth.ratelimit import check_shared_storage
from .config import ConfigError, describe
from .errors import APIError
from .migrate import migrate
from .ops import metrics as ops_metrics
from .ops.logs import GUNICORN_JSON_LOGGING
from .plugins import PluginManager, disabled_from_env
from .reference_data import LocaleError, resolve_locale, seed_first_run


def _create_app():
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _crm():
    return current_app.extensions["crm"]


def build_cli() -> click.Group:
    """The ``crm`` group with core and plugin commands."""
    group = FlaskGroup(
        create_app=_create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="crm-core: run and manage the CRM. Settings come from CRM_* environment variables "
        "(`crm settings` lists them).",
    )
    group.add_command(routes_command, "routes")
    group.add_command(shell_command, "shell")
    for command in (init_command, migrate_command, run_command, serve_command, plugins_command):
        group.add_command(command)
    group.add_command(settings_command)
    manager = PluginManager(disabled=disabled_from_env())
    manager.load()
    manager.hook.crm_cli(group=group)
    return group


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Apply pending migrations of the core and every plugin (safe to run again)."""
    applied = migrate(_crm().db, _crm().plugins)
    done = [f"{plugin}: {', '.join(names)}" for plugin, names in applied.items() if names]
    click.echo("\n".join(done) if done else "database is up to date")


@click.command("init")
@click.option("--demo", is_flag=True, help="Also load demo data, where the installed plugins offer it.")
@click.option(
    "--audit",
    is_flag=True,
    help="With --demo: give the demo records their audit entries (crm demo-data --audit).",
)
@click.option(
    "--locale",
    default=None,
    metavar="zh_CN|en",
    help="Language of the seeded pipeline, stages and role labels (default: CRM_LOCALE, else LANG, else en).",
)
@with_appcontext
def init_command(demo, audit, locale):
    """Migrate the database and create the first admin (once); a new install also gets the default
    sales pipeline and built-in role labels in its locale (existing data is left as it is)."""
    if audit and not demo:
        raise click.UsageError("--audit goes with --demo (it audits the demo records)")
    try:
        chosen = resolve_locale(locale, current_app.config.get("LOCALE"))
    except LocaleError as exc:
        raise click.ClickException(str(exc)) from None
    migrate(_crm().db, _crm().plugins)
    admins = User.select().join(UserRole).join(Role).where(Role.name == ADMIN_ROLE)
    if admins.exists():
        click.echo(f"admin exists: {admins.first().username}")
    else:
        seeded = seed_first_run(chosen)
        if seeded["pipeline"]:
            click.echo(f"created pipeline: {seeded['pipeline']} ({chosen})")
        username = current_app.config["ADMIN_USERNAME"]
        password = current_app.config["ADMIN_PASSWORD"] or generate_password()
        try:
            create_user(username, password, roles=[ADMIN_ROLE])
        except APIError as exc:  # name the rule (CRM_ADMIN_PASSWORD too short...), not "422"
            raise click.ClickException(
                f"cannot create admin {username!r}: {describe_errors(exc.data['errors']) or exc.message}"
            ) from None
        shown = password if not current_app.config["ADMIN_PASSWORD"] else "(from CRM_ADMIN_PASSWORD)"
        click.echo(f"created admin user: {username}  password: {shown}")
    if demo:
        demo_cmd = (
            click.get_current_context()
            .find_root()
            .command.get_command(click.get_current_context(), "demo-data")
        )
        if demo_cmd is None:
            click.echo("no demo data available from the installed plugins")
        else:
            click.get_current_context().invoke(demo_cmd, locale=locale, audit=audit)
    click.echo("ready")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the web app only.")
@with_appcontext
def run_command(host, port, no_scheduler):
    """Development server and the scheduler together (one machine, SQLite).

    One unit: SIGTERM or SIGINT stops the web server and the scheduler child; the child also gets
    SIGTERM from the kernel if this process dies without cleaning up (even SIGKILL)."""
    child = None
    root = click.get_current_context().find_root()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop(signum, frame):
        # werkzeug's serve_forever ends on KeyboardInterrupt; the finally below reaps the child
        raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, stop)
    try:
        if not no_scheduler and root.command.get_command(root, "scheduler") is not None:
            child = subprocess.Popen(
                [sys.executable, "-c", "from crm_core.cli import main; main()", "scheduler"],
                env=os.environ.copy(),
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            )
        # app.run() refuses to start under the flask CLI; serve with werkzeug directly
        from werkzeug.serving import run_simple

        app = current_app._get_current_object()
        run_simple(host, port, app, use_reloader=False, threaded=True, request_handler=_path_only_handler())
    except KeyboardInterrupt:
        pass
    finally:
        for sig in previous:  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if child is not None:
            _stop_child(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _die_with_parent(parent_pid: int) -> None:
    """In a child, before exec: SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the call
            os._exit(1)


def _stop_child(child: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaped."""
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@click.command("serve")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=4, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=int)
def serve_command(bind, workers, threads):
    """Production server: gunicorn workers (stateless; run `crm scheduler` once beside them).

    With more than one worker and rate limits on, the limits' store must be shared
    (CRM_RATELIMIT_STORAGE_URL=redis://...): a per-process memory:// store is refused."""
    from gunicorn.app.base import BaseApplication

    try:
        settings = load_settings()[0]
        check_shared_storage(settings, workers)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    except ValueError as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            # with JSON logs, the app's own line per request (crm_core.ops) replaces the access log,
            # and gunicorn's own lines are JSON too
            if settings["LOG_FORMAT"] == "json":
                self.cfg.set("logconfig_dict", GUNICORN_JSON_LOGGING)
            else:
                self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            # the workers' Prometheus metrics meet in a fresh directory; a dead worker's live
            # gauges are dropped (crm_core.ops.metrics)
            self.cfg.set("child_exit", ops_metrics.worker_exited)

        def load(self):
            app = _create_app()
            # what the app holds after start-up (modules, plugins, schemas, compiled routes)
            # lives as long as the worker: out of the collector's sight, a full collection no
            # longer walks it (about 100 ms each, seen as a p99 of 100 ms on detail reads)
            gc.freeze()
            return app

    metrics_dir, master = ops_metrics.prepare_multiprocess(), os.getpid()
    try:
        Server().run()
    finally:
        ops_metrics.remove_multiprocess_dir(metrics_dir, master)


#: gunicorn's default access line with the path alone (``%(U)s``) in place of the request line:
#: a query string carries what people search for (a phone, an ID number looked up by its blind
#: index), which has no place in a log file
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def _path_only_handler():
    from werkzeug.serving import WSGIRequestHandler

    class PathOnly(WSGIRequestHandler):
        """werkzeug's request handler logging the path without its query string (see
        ``ACCESS_LOG_FORMAT``)."""

        def log_request(self, code="-", size="-"):
            full = getattr(self, "path", None)  # unset when the request line was malformed
            if full is not None:
                self.path = full.split("?", 1)[0]
            try:
                super().log_request(code, size)
            finally:
                if full is not None:
                    self.path = full

    return PathOnly


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def settings_command(as_json):
    """List every setting, the core's and those the enabled plugins declare: variable, type,
    default, help and who declares it. Set one as CRM_<KEY> or as <key> in crm.toml."""
    import json

    try:
        rows = describe(load_plugins()[1])
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['variable']:<42} {row['type']:<4} {row['default']!r:<14} {row['help']} ({row['declared_by']})"
        )


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def plugins_command(as_json):
    """List plugins: name, version, status and the hooks each implements."""
    import json

    rows = _crm().plugins.listing()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        line = f"{row['name']:<24} {row['version']:<10} {row['status']:<9} {', '.join(row['hooks'])}"
        if row["error"]:
            line += f"  error: {row['error']}"
        click.echo(line)


def main(argv=None) -> None:
    """Console entry point of ``crm``."""
    try:
        cli = build_cli()
    except ConfigError as exc:
        click.echo(f"Error: invalid configuration: {exc}", err=True)
        sys.exit(2)
    cli.main(args=argv, prog_name="crm")
