"""The hours ledger of lesson packages: every change is a signed entry, the balance is their sum.

Each entry carries ``hours`` and the money value ``amount`` that moves with them (purchase: +hours
and +price; consume, transfer out, refund: minus both; transfer in: plus both), so a package's
remaining value is the sum of ``amount`` too, and consumed-hours revenue is minus the sum of the
consume entries' amounts. Hours are consumed only at roll call (:mod:`crm_education.rollcall`),
never by editing a balance; a changed roll call writes a compensating entry.

Every write locks its package (``scheduling.lock``) inside the caller's write transaction, checks
the balance (never below zero unless ``EDUCATION_ALLOW_NEGATIVE_HOURS``), inserts the entry and
reports it through ``record_written`` (audit and outbox, one event ``education.hours.<kind>``).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, database, record_dict, record_written, utcnow

from . import scheduling, settings
from .models import HourEntry, Package

CENT = Decimal("0.01")
ZERO = Decimal("0")
RESOURCE = "education.hours"


def totals(package_id: int) -> tuple[Decimal, Decimal]:
    """``(hours, value)`` remaining in a package: the sums of its entries."""
    row = (
        HourEntry.select(
            pw.fn.COALESCE(pw.fn.SUM(HourEntry.hours), 0), pw.fn.COALESCE(pw.fn.SUM(HourEntry.amount), 0)
        )
        .where(HourEntry.package == package_id)
        .tuples()
        .first()
    )
    return Decimal(row[0]).quantize(CENT), Decimal(row[1]).quantize(CENT)


def totals_of(package_ids) -> dict[int, tuple[Decimal, Decimal]]:
    """``{package_id: (hours, value)}`` remaining in many packages, in one query."""
    ids = list(package_ids)
    if not ids:
        return {}
    rows = (
        HourEntry.select(HourEntry.package, pw.fn.SUM(HourEntry.hours), pw.fn.SUM(HourEntry.amount))
        .where(HourEntry.package.in_(ids))
        .group_by(HourEntry.package)
        .tuples()
    )
    found = {pid: (Decimal(h).quantize(CENT), Decimal(a).quantize(CENT)) for pid, h, a in rows}
    return {pid: found.get(pid, (ZERO.quantize(CENT), ZERO.quantize(CENT))) for pid in ids}


def balance(package_id: int) -> Decimal:
    """The package's remaining hours (the sum of its ledger)."""
    return totals(package_id)[0]


def balances(package_ids) -> dict[int, Decimal]:
    """Remaining hours of many packages in one query."""
    ids = list(package_ids)
    if not ids:
        return {}
    rows = (
        HourEntry.select(HourEntry.package, pw.fn.SUM(HourEntry.hours))
        .where(HourEntry.package.in_(ids))
        .group_by(HourEntry.package)
        .tuples()
    )
    found = {pid: Decimal(total).quantize(CENT) for pid, total in rows}
    return {pid: found.get(pid, ZERO.quantize(CENT)) for pid in ids}


def unit_value(package: Package, hours_left: Decimal, value_left: Decimal) -> Decimal:
    """The value of one hour now: what is left divided by the hours left, or the purchase's unit
    price once the hours are used up (owed hours are valued as bought)."""
    if hours_left > 0:
        return value_left / hours_left
    return Decimal(package.price) / Decimal(package.hours)


def write(
    package: Package,
    kind: str,
    hours: Decimal,
    amount: Decimal,
    reference: str,
    actor,
    session_id: int | None = None,
    note: str = "",
) -> HourEntry:
    """Insert one entry (409 when the same (package, kind, reference) exists) and report it."""
    try:
        with database.atomic():  # a savepoint: a duplicate leaves the transaction usable
            entry = HourEntry.create(
                package=package.id,
                kind=kind,
                hours=hours.quantize(CENT),
                amount=amount.quantize(CENT, ROUND_HALF_UP),
                reference=reference,
                session_id=session_id,
                note=note,
                actor_id=getattr(actor, "id", None),
                at=utcnow(),
            )
    except pw.IntegrityError as exc:
        raise APIError(
            409, _("This entry was already written."), errors={"reference": [_("Already used.")]}
        ) from exc
    record_written(kind, RESOURCE, entry, actor, None, record_dict(entry))
    return entry


def take(
    package: Package,
    hours: Decimal,
    kind: str,
    reference: str,
    actor,
    session_id=None,
    note: str = "",
    allow_negative: bool | None = None,
    known: tuple[Decimal, Decimal] | None = None,
) -> HourEntry:
    """Take ``hours`` out of a package (consume, transfer out, refund) at its current unit value;
    409 when the balance would fall below zero (unless negative balances are allowed).
    ``known``: the package's (hours, value) left, read by a caller already holding its lock."""
    if known is None:
        scheduling.lock(("package", package.id))
        left, value = totals(package.id)
    else:
        left, value = known
    if allow_negative is None:
        allow_negative = kind == "consume" and settings.get("ALLOW_NEGATIVE_HOURS")
    if left - hours < 0 and not allow_negative:
        raise APIError(
            409,
            _(
                "Package %(id)s has %(left)s hours left, %(asked)s asked.",
                id=package.id,
                left=left,
                asked=hours,
            ),
            errors={"hours": [_("Not enough hours left.")]},
        )
    amount = value if hours == left else hours * unit_value(package, left, value)
    return write(package, kind, -hours, -amount, reference, actor, session_id, note)


def purchase(package: Package, actor) -> HourEntry:
    """The package's purchase entry: +hours, +price (written once, with the package)."""
    return write(package, "purchase", Decimal(package.hours), Decimal(package.price), "purchase", actor)


def transfer(source: Package, target: Package, hours: Decimal, reference: str, actor, note: str = ""):
    """Move hours (and their value) from one package to another; both locked, in id order."""
    if source.id == target.id:
        raise APIError(
            422, _("A transfer needs another package."), errors={"to_package_id": [_("Same package.")]}
        )
    if target.status != "active":
        raise APIError(
            409, _("The target package is not active."), errors={"to_package_id": [_("Not active.")]}
        )
    scheduling.lock(("package", source.id), ("package", target.id))
    out = take(source, hours, "transfer_out", reference, actor, note=note, allow_negative=False)
    into = write(
        target, "transfer_in", hours, -Decimal(out.amount), f"{reference}:{source.id}", actor, note=note
    )
    return out, into


def refund(package: Package, hours: Decimal | None, reference: str, actor, note: str = "") -> HourEntry:
    """Refund hours (default: all that are left) and their value; a package with nothing left
    afterwards is marked refunded."""
    scheduling.lock(("package", package.id))
    left = balance(package.id)
    hours = left if hours is None else hours
    if hours <= 0:
        raise APIError(409, _("Nothing left to refund."), errors={"hours": [_("No hours left.")]})
    entry = take(package, hours, "refund", reference, actor, note=note, allow_negative=False)
    if balance(package.id) == 0:
        Package.update(status="refunded", updated_at=utcnow()).where(Package.id == package.id).execute()
    return entry


def usable(customer_ids, course_id: int, day: dt.date) -> list[Package]:
    """The students' active packages of a course valid on ``day``, soonest to expire first."""
    return list(
        Package.select()
        .where(
            Package.customer_id.in_(list(customer_ids)),
            Package.course == course_id,
            Package.status == "active",
            Package.valid_from <= day,
            (Package.valid_until.is_null()) | (Package.valid_until >= day),
        )
        .order_by(Package.valid_until.is_null(), Package.valid_until, Package.id)
    )
