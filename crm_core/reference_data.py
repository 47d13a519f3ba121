"""Reference data a new install starts with, written in the install's locale.

``crm init`` (on its first run, when it creates the first admin) and ``crm demo-data`` seed the
default sales pipeline with its stages and give the built-in roles their labels in the chosen
locale (``zh_CN``: 销售 / 线索, 已确认, 方案, 赢单, 输单; ``en``: Sales / Lead, Qualified, Proposal,
Won, Lost). Only names change with the locale: stage ``kind`` codes, probabilities and role names
are the same everywhere, so code and permissions never depend on the language.

Existing data is kept: a role label is only rewritten while it is still one of the shipped
defaults (an administrator's own label stays), and the pipeline is only created when missing.

The locale is, in order: an explicit choice (``--locale``), the ``LOCALE`` setting
(``CRM_LOCALE``), the POSIX locale of the environment (``LC_ALL``, ``LC_MESSAGES``, ``LANG``:
``zh_CN.UTF-8`` gives ``zh_CN``), then ``en``.
"""

from __future__ import annotations

import os

from .auth import record_change
from .auth.models import Role
from .db import database, utcnow
from .entities.models import Pipeline, Stage

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "en"

#: (pipeline name, [(stage name, probability, kind), ...]) per locale
PIPELINES: dict[str, tuple[str, tuple[tuple[str, int, str], ...]]] = {
    "zh_CN": (
        "销售",
        (
            ("线索", 10, "open"),
            ("已确认", 30, "open"),
            ("方案", 60, "open"),
            ("赢单", 100, "won"),
            ("输单", 0, "lost"),
        ),
    ),
    "en": (
        "Sales",
        (
            ("Lead", 10, "open"),
            ("Qualified", 30, "open"),
            ("Proposal", 60, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost"),
        ),
    ),
}

#: labels of the built-in roles per locale (the names ``admin``, ``sales``... never change)
ROLE_LABELS: dict[str, dict[str, str]] = {
    "zh_CN": {
        "admin": "系统管理员",
        "manager": "经理",
        "sales": "销售",
        "service": "客服",
        "readonly": "只读",
    },
    "en": {
        "admin": "Administrator",
        "manager": "Manager",
        "sales": "Sales",
        "service": "Customer service",
        "readonly": "Read only",
    },
}

#: customer tags the demo puts on customers, per locale
TAGS: dict[str, tuple[str, ...]] = {
    "zh_CN": ("VIP", "KOL", "新客", "批发商", "回头客"),
    "en": ("vip", "kol", "new", "wholesale", "repeat"),
}


def normalise_locale(code: str | None) -> str | None:
    """Map ``zh_CN``, ``zh-Hans``, ``zh_CN.UTF-8``, ``en_US``... to ``zh_CN`` or ``en``; None for
    anything else (``C``, ``POSIX``, empty, another language)."""
    if not code:
        return None
    tag = code.split(".")[0].split("@")[0].replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


class LocaleError(ValueError):
    """A locale was asked for that the CRM does not ship."""


def resolve_locale(explicit: str | None = None, setting: str | None = None, environ=None) -> str:
    """The locale to seed in: ``explicit``, else ``setting`` (``CRM_LOCALE``), else the
    environment's POSIX locale, else ``en``. An explicit choice or setting that is neither
    Chinese nor English raises :class:`LocaleError` (a typo must not silently give English)."""
    for label, value in (("--locale", explicit), ("CRM_LOCALE", setting)):
        if value:
            found = normalise_locale(value)
            if found is None:
                raise LocaleError(f"{label}: unknown locale {value!r}; use one of {', '.join(LOCALES)}")
            return found
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:  # POSIX: the first one set decides, even when it is not a language we ship
            return normalise_locale(value) or DEFAULT_LOCALE
    return DEFAULT_LOCALE


def localise_role_labels(locale: str) -> list[str]:
    """Give the built-in roles their ``locale`` labels where the label is still a shipped default
    (of any locale); returns the names of the roles relabelled."""
    labels = ROLE_LABELS[locale]
    defaults = {name: {table[name] for table in ROLE_LABELS.values()} for name in labels}
    changed = []
    with database.atomic():
        for role in Role.select().where(Role.builtin == True, Role.name.in_(list(labels))):  # noqa: E712
            wanted = labels[role.name]
            if role.label != wanted and (role.label in defaults[role.name] or not role.label):
                Role.update(label=wanted, updated_at=utcnow()).where(Role.id == role.id).execute()
                record_change("update", "roles", role.id, {"label": role.label}, {"label": wanted})
                changed.append(role.name)
    return changed


def default_pipeline(locale: str):
    """The ``locale`` sales pipeline, created with its stages when missing (it becomes the
    default pipeline only when there was none)."""
    name, stages = PIPELINES[locale]
    with database.atomic():
        pipeline = Pipeline.get_or_none(Pipeline.name == name)
        if pipeline is None:
            pipeline = Pipeline.create(name=name, is_default=not Pipeline.select().exists())
            Stage.insert_many(
                [
                    {
                        "pipeline": pipeline.id,
                        "name": stage,
                        "position": position,
                        "probability": probability,
                        "kind": kind,
                    }
                    for position, (stage, probability, kind) in enumerate(stages)
                ]
            ).execute()
    return pipeline


def seed_first_run(locale: str) -> dict:
    """What a brand-new install gets in ``locale`` (``crm init``, once): built-in role labels and,
    when the install has no pipeline at all, the default sales pipeline."""
    relabelled = localise_role_labels(locale)
    pipeline = None
    if not Pipeline.select().exists():
        pipeline = default_pipeline(locale).name
    return {"roles": relabelled, "pipeline": pipeline}
