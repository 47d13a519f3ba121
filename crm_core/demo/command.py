"""``crm demo-data``: the command that runs the demo (:mod:`crm_core.demo.customers`)."""

from __future__ import annotations

import random
import time
import unicodedata

import click
from flask import current_app
from flask.cli import with_appcontext

from ..auth.passwords import policy_errors
from ..entities.models import (
    Customer,
)
from ..reference_data import (
    ROLE_LABELS,
    LocaleError,
    resolve_locale,
)
from .customers import last_id, seed


def locale_option(function):
    """``--locale zh_CN|en`` (default: ``CRM_LOCALE``, then ``LANG``, then en)."""
    return click.option(
        "--locale",
        default=None,
        metavar="zh_CN|en",
        help="Language of seeded names and labels (default: CRM_LOCALE, else LANG, else en).",
    )(function)


def chosen_locale(explicit: str | None) -> str:
    """The locale of this command (see :func:`crm_core.reference_data.resolve_locale`); a clear
    error for one the CRM does not ship."""
    try:
        return resolve_locale(explicit, current_app.config.get("LOCALE"))
    except LocaleError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("demo-data")
@click.option(
    "--customers",
    default=200,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="How many customers.",
)
@click.option("--seed", "seed_value", default=42, show_default=True, type=int, help="Random seed.")
@click.option(
    "--chunk", default=5000, show_default=True, type=click.IntRange(1, 50_000), help="Rows per INSERT."
)
@locale_option
@click.option(
    "--password",
    default=None,
    help="Password of every demo login (default: a new one, printed). Re-running resets it.",
)
@click.option(
    "--audit",
    is_flag=True,
    help="Give every demo customer, company, contact, deal, ticket and activity its 'create' audit "
    "entry (batched per chunk, sealed into the chain, source 'demo'), for a log that looks like a "
    "real one or a load test with audit on. No outbox events: seed data must not fire webhooks "
    "or automation rules. Without it the demo writes no audit entries for them (faster).",
)
@with_appcontext
def demo_data_command(customers, seed_value, chunk, locale, password, audit):
    """Load a demo: departments and a login per role (printed with their password), customers
    owned by sales reps (bulk inserts), a dealer tree, deals in every stage, tickets in every
    status, tasks due, then each plugin's demo data. Safe to run again.

    The records are seed data: by default they get no audit entries and no events. With --audit
    each gets the 'create' entry an import gives its rows (still no events: nothing happened to
    these customers that webhooks or automations should hear of)."""
    # a locale asked for (not guessed from LANG) also gives the untouched role labels its language
    asked = bool(locale or current_app.config.get("LOCALE"))
    locale = chosen_locale(locale)
    if password is not None and policy_errors(password):
        raise click.ClickException(f"--password: {' '.join(policy_errors(password))}")
    started = time.perf_counter()
    run = seed(
        customers,
        chunk=chunk,
        # the same seed gives the same demo on the same data; a second run gets other people
        rng=random.Random(f"{seed_value}/{last_id(Customer)}"),
        echo=click.echo,
        locale=locale,
        password=password,
        relabel_roles=asked,
        audit=audit,
    )
    took = time.perf_counter() - started
    counts = ", ".join(f"{k} {v:,}" for k, v in run.counts.items())
    audited = ", audited" if audit else ""
    click.echo(f"demo data ({locale}{audited}): {counts} in {took:.1f} s")
    click.echo("added by: " + ", ".join(f"{name} ({run.seconds[name]:.1f} s)" for name in run.plugins))
    labels = ROLE_LABELS[locale]
    click.echo(f"demo logins (password for all: {run.password}):")
    for user in run.people.users:
        roles = " + ".join(labels.get(r, r) for r in user.roles)
        click.echo(f"  {_pad(user.username, 16)} {_pad(user.name, 10)} {_pad(roles, 18)} {user.department}")
    if run.failures:
        failed = "; ".join(f"{name}: {error}" for name, error in run.failures)
        raise click.ClickException(f"demo data of these plugins failed and was left out: {failed}")


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)
