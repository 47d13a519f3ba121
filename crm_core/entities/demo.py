"""``crm demo-data``: a demo that shows the product, in Chinese or English, inserted in bulk.

One run makes, in the chosen locale (:mod:`crm_core.reference_data` says how it is chosen):

1. the people (:mod:`crm_core.demo_people`): a department tree and one login per role, all with
   the password the command prints;
2. the customers, in chunked bulk inserts (a million in minutes), each owned by a sales rep (or a
   regional manager) and placed in that person's department, so a rep sees their own book;
3. through the ``crm_demo_data`` hook, in one transaction: first the core's part
   (:func:`seed_records`: a dealer tree of companies with their contacts, deals in every stage
   with their stage history, tickets in every status with their transitions, calls, meetings and
   tasks with due dates, some overdue), then each plugin's, each given a
   :class:`~crm_core.types.DemoContext` with the locale, the admin, the users by role, the
   departments and the customers (the run's last 1,000 at most: with ``--customers 1000000``
   the related records and the plugins' demo stay small and quick).

Demo rows are written with bulk inserts rather than through the API or the write path: they are
seed data, not business events, so they are neither audited nor sent to webhooks. Phone numbers
and e-mail addresses continue from what is already there, and people, departments, tags and the
pipeline are found again by name, so the command can be run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext

from ..api.tickets import SLA_HOURS, sla_due
from ..db import database, utcnow
from ..demo_people import DemoPeople, ensure_people
from ..records.bulk import insert_rows
from ..reference_data import (
    ROLE_LABELS,
    TAGS,
    LocaleError,
    default_pipeline,
    localise_role_labels,
    resolve_locale,
)
from ..types import DemoContext
from .models import (
    ACTIVITY_KINDS,
    LIFECYCLE_STAGES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    Activity,
    Company,
    Contact,
    Customer,
    CustomerTag,
    Deal,
    DealStageChange,
    Tag,
    Ticket,
    TicketTransition,
)

log = logging.getLogger(__name__)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉宇浩然子轩梓涵一诺欣怡"
FIRST_NAMES = (
    "James", "Mary", "John", "Linda", "Michael", "Emma", "David", "Olivia", "Daniel", "Sophia", "Wei",
    "Ming", "Lily", "Jack", "Grace", "Kevin", "Amy", "Eric", "Chloe", "Ryan", "Anna", "Leo", "Mia",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Brown", "Lee", "Wang", "Chen", "Zhang", "Liu", "Taylor", "Wilson", "Martin",
    "Walker", "Young", "King", "Wright", "Green", "Hall", "Wood", "Clark", "Lewis",
)  # fmt: skip
CHANNELS = ("wechat", "douyin", "xiaohongshu", "kol", "store", "website", "referral", "exhibition")
MOBILE_PREFIXES = ("138", "139", "137", "136", "135", "158", "159", "186", "187", "188")
#: related records (companies, deals, tickets, activities) go to at most this many customers
RELATED_MAX = 1000

#: the words of the demo's records, per locale
TEXT: dict[str, dict[str, tuple[str, ...]]] = {
    "zh_CN": {
        "root_company": ("华东总代理",),
        "company_city": ("上海", "杭州", "广州", "深圳", "南京", "苏州", "宁波", "佛山"),
        "company_word": ("恒通", "鑫达", "华联", "永盛", "瑞丰", "金源", "百川", "汇通"),
        "company_kind": ("商贸有限公司", "贸易公司", "经销部", "专卖店"),
        "contact_role": ("采购负责人", "店长", "老板", "财务"),
        "deal": ("年度采购", "门店铺货", "会员礼盒", "企业团购", "新品试销"),
        "lost_reason": ("价格太高", "选择了竞争对手", "预算取消"),
        "ticket": ("商品破损退换", "物流延迟", "发票申请", "会员积分疑问", "产品使用咨询"),
        "ticket_body": ("客户来电反映问题，请尽快跟进。", "客户在微信上留言，需要回复处理进度。"),
        "note": ("客户偏好周末到店", "对新品很感兴趣"),
        "call": ("电话回访", "确认收货情况"),
        "meeting": ("上门拜访", "门店陈列沟通"),
        "task": ("发送报价单", "生日关怀", "跟进付款", "预约试用"),
    },
    "en": {
        "root_company": ("East China Master Distributor",),
        "company_city": ("Shanghai", "Hangzhou", "Guangzhou", "Shenzhen", "Nanjing", "Suzhou"),
        "company_word": ("Everbright", "Golden Source", "Unity", "Harbor", "Summit", "Riverside"),
        "company_kind": ("Trading Co.", "Retail Ltd.", "Distribution", "Store"),
        "contact_role": ("Buyer", "Store manager", "Owner", "Accounts"),
        "deal": ("Annual order", "Store stocking", "Gift boxes", "Corporate order", "New product trial"),
        "lost_reason": ("Price too high", "Went with a competitor", "Budget cancelled"),
        "ticket": (
            "Damaged item exchange",
            "Late delivery",
            "Invoice request",
            "Loyalty points question",
            "How-to question",
        ),
        "ticket_body": (
            "The customer called about this; please follow up soon.",
            "Message on WeChat: the customer wants to know the progress.",
        ),
        "note": ("Prefers to visit the store at weekends", "Interested in the new range"),
        "call": ("Follow-up call", "Check the delivery arrived"),
        "meeting": ("Store visit", "Shelf display review"),
        "task": ("Send the quotation", "Birthday greeting", "Chase the payment", "Book a product trial"),
    },
}


@dataclasses.dataclass
class DemoRun:
    """What one demo run made: counts per record kind, the people and their password, and the
    plugins whose demo data was added or failed."""

    locale: str
    password: str
    people: DemoPeople
    counts: dict = dataclasses.field(default_factory=dict)
    plugins: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per plugin
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def customer_name(rng: random.Random, locale: str) -> str:
    """A plausible customer name in ``locale``."""
    if locale == "zh_CN":
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _owners(people: DemoPeople) -> list[tuple[int | None, int | None]]:
    """(owner id, department id) to draw customers' owners from: mostly sales reps, some regional
    managers' own accounts and a few in nobody's book (only the admin sees those)."""
    pool: list[tuple[int | None, int | None]] = []
    for user in people.with_role("sales"):
        pool += [(user.id, user.department_id)] * 8
    for user in people.with_role("manager"):
        pool += [(user.id, user.department_id)] * 2
    return pool + [(None, None)]


def seed(
    customers: int,
    chunk: int = 5000,
    rng: random.Random | None = None,
    echo: Callable[[str], None] = lambda msg: None,
    locale: str = "en",
    password: str | None = None,
    relabel_roles: bool = True,
    plugins: Iterable[str] | None = None,
) -> DemoRun:
    """The whole demo (see the module docstring): people, ``customers`` customers, then the
    ``crm_demo_data`` hook (the core's records, then every plugin's; only those named in
    ``plugins`` when given, e.g. ``["core.entities"]`` for the core's alone). With
    ``relabel_roles`` the built-in roles still carrying a shipped label get the ``locale`` one.
    Needs an app context."""
    from ..auth.passwords import generate_password

    rng = rng or random.Random(42)
    password = password or generate_password()
    if relabel_roles:
        localise_role_labels(locale)
    people = ensure_people(locale, password)
    run = DemoRun(locale=locale, password=password, people=people)
    ids = insert_customers(customers, people, locale, chunk, rng, echo)
    run.counts["customers"] = len(ids)
    context = DemoContext(
        locale=locale,
        admin=_admin_actor(),
        users={"admin": _admin_ids(), **people.by_role()},
        departments=dict(people.department_names),
        customers=ids[-RELATED_MAX:],
        random=rng,
    )
    base = rng.random()
    before = {name: _last_id(model) for name, model in COUNTED.items()}
    with database.atomic():
        for name, caller in current_app.extensions["crm"].plugins.per_plugin("crm_demo_data"):
            if plugins is not None and name not in plugins:
                continue
            # each plugin its own stream: one plugin's demo does not shift another's
            own = dataclasses.replace(context, random=random.Random(f"{base}:{name}"))
            started = time.perf_counter()
            try:
                with database.atomic():  # a savepoint: a failing plugin leaves the rest in place
                    caller(context=own)
            except Exception as exc:  # one broken plugin must not cost the whole demo
                log.exception("crm_demo_data of plugin %r failed", name)
                run.failures.append((name, f"{type(exc).__name__}: {exc}"))
            else:
                run.plugins.append(name)
                run.seconds[name] = time.perf_counter() - started
    for name, model in COUNTED.items():
        run.counts[name] = model.select().where(model.id > before[name]).count()
    return run


#: the core records a run reports, counted as the rows added after the customers
COUNTED = {
    "companies": Company,
    "contacts": Contact,
    "deals": Deal,
    "tickets": Ticket,
    "activities": Activity,
}


def _last_id(model) -> int:
    return model.select(model.id).order_by(model.id.desc()).scalar() or 0


def insert_customers(
    customers: int, people: DemoPeople, locale: str, chunk: int, rng: random.Random, echo
) -> list[int]:
    """Bulk-insert ``customers`` customers (owners and departments from ``people``, ~10% tagged);
    returns their ids."""
    now = utcnow()
    serial = _last_id(Customer) + 1  # phones and e-mails continue from the last customer
    owners = _owners(people)
    with database.atomic():
        tag_ids = [Tag.get_or_create(name=name)[0].id for name in TAGS[locale]]
    names = (
        "name", "phone", "email", "gender", "birthday", "source_channel", "lifecycle_stage", "owner_id",
        "department_id", "custom", "created_at", "updated_at",
    )  # fmt: skip
    all_ids: list[int] = []
    for offset in range(0, customers, chunk):
        with database.atomic():
            rows = []
            for i in range(offset, min(offset + chunk, customers)):
                n = serial + i
                created = now - dt.timedelta(seconds=rng.randrange(0, 730 * 86400))
                prefix = MOBILE_PREFIXES[n // 10**8 % len(MOBILE_PREFIXES)]
                owner, department = rng.choice(owners)
                rows.append(
                    (
                        customer_name(rng, locale),
                        f"+86{prefix}{n % 10**8:08d}",
                        f"demo{n}@example.com",
                        rng.choice(("male", "female")),
                        dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 16000)),
                        rng.choice(CHANNELS),
                        rng.choice(LIFECYCLE_STAGES),
                        owner,
                        department,
                        {},
                        created,
                        created,
                    )
                )
            ids = insert_rows(Customer, names, rows, ignore_conflicts=True)
            links = [{"customer": cid, "tag": rng.choice(tag_ids)} for cid in ids if rng.random() < 0.1]
            if links:
                CustomerTag.insert_many(links).on_conflict_ignore().execute()
            all_ids += ids
        echo(f"customers: {len(all_ids):,}/{customers:,}")
    return all_ids


def _admin_ids() -> list[int]:
    from ..auth import ADMIN_ROLE
    from ..auth.models import Role, User, UserRole

    active = User.is_active == True  # noqa: E712  (peewee builds SQL from the comparison)
    query = User.select(User.id).join(UserRole).join(Role).where(Role.name == ADMIN_ROLE, active)
    return [u.id for u in query.order_by(User.id)]


def _admin_actor():
    """The first active admin's actor (None before ``crm init`` made one)."""
    from ..auth import actor_for_user
    from ..auth.models import User

    ids = _admin_ids()
    return actor_for_user(User.get_by_id(ids[0])) if ids else None


def _insert(model, rows: list[dict]) -> list[int]:
    """Bulk-insert dicts that all have the same keys; returns the new ids in order."""
    if not rows:
        return []
    fields = list(rows[0])
    return insert_rows(model, fields, [tuple(r[f] for f in fields) for r in rows])


def seed_records(context: DemoContext) -> None:
    """The core's demo records for ``context.customers`` (the core's ``crm_demo_data``): companies
    with contacts, deals across the stages with their history, tickets in every status with their
    transitions, and activities (tasks due, some overdue)."""
    if not context.customers:
        return
    rng, locale, text = context.random, context.locale, TEXT[context.locale]
    now = utcnow().replace(microsecond=0)
    rows = (
        Customer.select(Customer.id, Customer.name, Customer.owner_id, Customer.department_id)
        .where(Customer.id.in_(context.customers))
        .order_by(Customer.id.desc())
        .tuples()
    )
    customers = list(rows)
    n = len(customers)
    agents = context.users.get("service") or []
    agent = agents[0] if agents else None
    from ..auth.models import User

    service_dept = User.get_by_id(agent).department_id if agent else None
    companies, company_owner = _companies(customers, n, rng, text, now)
    contacts = _contacts(customers, companies, company_owner, rng, text, now)
    deals, deal_ids = _deals(customers[: n // 2], contacts, locale, rng, text, now)
    _tickets(customers[: n // 4], agent, service_dept, rng, text, now)
    _activities(customers[: n // 2], deals, deal_ids, rng, text, now)


def _companies(customers, n, rng, text, now):
    """A dealer tree: the master distributor and ``n // 100`` dealers below it (at least one)."""
    book = [(owner, dept) for _id, _name, owner, dept in customers if owner is not None]
    root_name = text["root_company"][0]
    root = Company.get_or_none(Company.name == root_name, Company.parent.is_null())
    if root is None:
        owner, dept = book[0] if book else (None, None)
        root = Company.create(name=root_name, industry="distribution", owner_id=owner, department_id=dept)
        root.path = f"/{root.id}/"
        root.save(only=[Company.path])
    companies, owners = [root], {root.id: (root.owner_id, root.department_id)}
    for _i in range(max(1, n // 100)):
        parent = rng.choice(companies)
        owner, dept = rng.choice(book) if book else (None, None)
        name = rng.choice(text["company_city"]) + _space(text) + rng.choice(text["company_word"])
        company = Company.create(
            name=name + _space(text) + rng.choice(text["company_kind"]),
            parent=parent,
            industry=rng.choice(("retail", "wholesale")),
            phone=f"+8621{rng.randrange(10**7, 10**8)}",
            owner_id=owner,
            department_id=dept,
            created_at=now - dt.timedelta(days=rng.randrange(30, 700)),
        )
        company.path = f"{parent.path}{company.id}/"
        company.save(only=[Company.path])
        companies.append(company)
        owners[company.id] = (owner, dept)
    return companies, owners


def _space(text) -> str:
    return "" if text is TEXT["zh_CN"] else " "


def _contacts(customers, companies, company_owner, rng, text, now) -> dict[int, int]:
    """A third of the customers are contacts (buyer, owner...) of a company of the same owner when
    there is one; returns customer id → company id."""
    by_owner: dict = {}
    for company in companies:
        by_owner.setdefault(company_owner[company.id][0], []).append(company.id)
    rows, linked, primary = [], {}, set()
    for cid, _name, owner, dept in customers[::3]:
        company_id = rng.choice(by_owner.get(owner) or [c.id for c in companies])
        rows.append(
            {
                "customer": cid,
                "company": company_id,
                "role": rng.choice(text["contact_role"]),
                "is_primary": company_id not in primary,
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        primary.add(company_id)
        linked[cid] = company_id
    if rows:
        Contact.insert_many(rows).on_conflict_ignore().execute()
    return linked


def _deals(customers, contacts, locale, rng, text, now):
    """One deal per customer, spread over every stage of the locale's pipeline, each with the
    stage moves that brought it there; returns (deal rows, ids)."""
    pipeline = default_pipeline(locale)
    stages = list(pipeline.stages)
    opens = [s for s in stages if s.kind == "open"] or stages[:1]
    deals, paths = [], []
    for i, (cid, name, owner, dept) in enumerate(customers):
        # the first deals visit every stage in turn, so even a small demo fills the board
        stage = stages[i] if i < len(stages) else rng.choice(stages)
        if stage.kind == "open":
            path = opens[: opens.index(stage) + 1] if stage in opens else [stage]
        else:
            path = [*opens[: rng.randrange(1, len(opens) + 1)], stage]
        created = now - dt.timedelta(days=rng.randrange(len(path) * 3, 120), hours=rng.randrange(24))
        moved = [created + (now - created) * k / len(path) for k in range(len(path))]
        closed = stage.kind != "open"
        deals.append(
            {
                "title": f"{name} · {rng.choice(text['deal'])}",
                "customer": cid,
                "company": contacts.get(cid),
                "pipeline": pipeline.id,
                "stage": stage.id,
                "status": stage.kind,
                "amount": Decimal(rng.randrange(50_000, 5_000_000)) / 100,
                "currency": "CNY",
                "expected_close_date": (created + dt.timedelta(days=rng.randrange(20, 90))).date(),
                "close_reason": rng.choice(text["lost_reason"]) if stage.kind == "lost" else None,
                "closed_at": moved[-1] if closed else None,
                "stage_changed_at": moved[-1],
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": created,
                "updated_at": moved[-1],
            }
        )
        paths.append((path, moved, owner))
    ids = _insert(Deal, deals)
    changes = []
    for deal_id, (path, moved, owner) in zip(ids, paths, strict=True):
        previous = None
        for stage, when in zip(path, moved, strict=True):
            changes.append(
                {
                    "deal": deal_id,
                    "from_stage": previous,
                    "to_stage": stage.id,
                    "changed_at": when,
                    "actor_id": owner,
                }
            )
            previous = stage.id
    _insert(DealStageChange, changes)
    return deals, ids


def _tickets(customers, agent, service_dept, rng, text, now) -> int:
    """Tickets in every status (each with the transitions that led there), owned by the customer's
    sales rep, worked by the support agent in the service centre; returns how many."""
    tickets, flows = [], []
    for i, (cid, _name, owner, dept) in enumerate(customers):
        status = TICKET_STATUSES[i % len(TICKET_STATUSES)]
        if agent is None and status != "new":
            status = "new"  # without an agent nobody could have picked it up
        flow = list(TICKET_STATUSES[: TICKET_STATUSES.index(status) + 1])
        priority = rng.choice(TICKET_PRIORITIES)
        times = _ticket_times(flow, SLA_HOURS[priority], rng, now)
        created = times[0]
        tickets.append(
            {
                "title": rng.choice(text["ticket"]),
                "description": rng.choice(text["ticket_body"]),
                "customer": cid,
                "priority": priority,
                "status": status,
                "assignee_id": agent if status != "new" else None,
                "sla_due_at": sla_due(created, priority),
                "resolved_at": times[3] if len(times) > 3 else None,
                "closed_at": times[4] if len(times) > 4 else None,
                "owner_id": owner,
                "department_id": service_dept if service_dept is not None else dept,
                "custom": {},
                "created_at": created,
                "updated_at": times[-1],
            }
        )
        flows.append((flow, times, owner))
    ids = _insert(Ticket, tickets)
    transitions = []
    for ticket_id, (flow, times, owner) in zip(ids, flows, strict=True):
        previous = None
        for status, when in zip(flow, times, strict=True):
            transitions.append(
                {
                    "ticket": ticket_id,
                    "from_status": previous,
                    "to_status": status,
                    "changed_at": when,
                    "actor_id": owner if previous is None else agent,
                }
            )
            previous = status
    _insert(TicketTransition, transitions)
    return len(ids)


def _ticket_times(flow, sla_hours: int, rng, now) -> list[dt.datetime]:
    """When a ticket went through each status of ``flow``: open tickets are recent (some already
    past their SLA), finished ones older and mostly resolved within it."""
    hour = dt.timedelta(hours=1)
    if "resolved" not in flow:
        created = now - hour * rng.uniform(0.5, sla_hours * 1.5)
        return [created + (now - created) * k / len(flow) for k in range(len(flow))]
    created = now - hour * rng.uniform(sla_hours * 2 + 24, 24 * 30)
    resolved = created + hour * sla_hours * rng.uniform(0.3, 1.3)
    times = [created, created + (resolved - created) * 0.2, created + (resolved - created) * 0.4, resolved]
    return times + ([min(resolved + 24 * hour, now)] if "closed" in flow else [])


def _activities(customers, deals, deal_ids, rng, text, now) -> int:
    """One activity per customer (notes, calls, meetings and tasks; tasks due in the past week or
    the next two, some done) and a follow-up task on every open deal; returns how many."""
    rows = []

    def add(kind, subject, related_type, related_id, cid, owner, dept, created):
        due = done_at = None
        done = False
        if kind in ("task", "meeting"):
            due = now + dt.timedelta(days=rng.randrange(-7, 15), hours=rng.randrange(8, 18))
            done = due < now and rng.random() < 0.4  # the rest of the past ones are overdue
            done_at = due if done else None
        elif kind == "call":
            done, done_at = True, created
        rows.append(
            {
                "kind": kind,
                "subject": subject,
                "body": "",
                "due_at": due,
                "done": done,
                "done_at": done_at,
                "related_type": related_type,
                "related_id": related_id,
                "customer": cid,
                "owner_id": owner,
                "department_id": dept,
                "custom": {},
                "created_at": created,
                "updated_at": created,
            }
        )

    for i, (cid, _name, owner, dept) in enumerate(customers):
        kind = ACTIVITY_KINDS[i % len(ACTIVITY_KINDS)]
        created = now - dt.timedelta(days=rng.randrange(1, 60))
        add(kind, rng.choice(text[kind]), "customers", cid, cid, owner, dept, created)
    for deal_id, deal in zip(deal_ids, deals, strict=True):
        if deal["status"] == "open":
            subject = rng.choice(text["task"])
            add("task", subject, "deals", deal_id, deal["customer"], deal["owner_id"], deal["department_id"],
                deal["created_at"])  # fmt: skip
    _insert(Activity, rows)
    return len(rows)


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
@with_appcontext
def demo_data_command(customers, seed_value, chunk, locale, password):
    """Load a demo: departments and a login per role (printed with their password), customers
    owned by sales reps (bulk inserts), a dealer tree, deals in every stage, tickets in every
    status, tasks due, then each plugin's demo data. Safe to run again."""
    from ..auth.passwords import policy_errors

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
        rng=random.Random(f"{seed_value}/{_last_id(Customer)}"),
        echo=click.echo,
        locale=locale,
        password=password,
        relabel_roles=asked,
    )
    took = time.perf_counter() - started
    counts = ", ".join(f"{k} {v:,}" for k, v in run.counts.items())
    click.echo(f"demo data ({locale}): {counts} in {took:.1f} s")
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
