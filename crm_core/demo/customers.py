"""The demo run: people, customers in bulk, then every ``crm_demo_data`` part (``crm demo-data``
is :mod:`crm_core.demo.command`); a demo that shows the product, in Chinese or English, inserted in bulk.

One run makes, in the chosen locale (:mod:`crm_core.reference_data` says how it is chosen):

1. the people (:mod:`crm_core.demo.people`): a department tree and one login per role, all with
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
seed data, not business events, so they are neither audited nor sent to webhooks. With ``audit``
(``crm demo-data --audit``) each customer and each core record still goes in by bulk insert, and
is reported in its chunk's transaction as a ``create`` with one audit entry each (batched) and no
outbox event (:mod:`crm_core.demo.audited` says why). Phone numbers and e-mail addresses continue
from what is already there, and people, departments, tags and the pipeline are found again by
name, so the command can be run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterable

from flask import current_app

from ..auth import ADMIN_ROLE, actor_for_user
from ..auth.models import Role, User, UserRole
from ..auth.passwords import generate_password
from ..bulk import insert_rows
from ..db import database, utcnow
from ..entities.models import (
    LIFECYCLE_STAGES,
    Activity,
    Company,
    Contact,
    Customer,
    CustomerTag,
    Deal,
    Tag,
    Ticket,
)
from ..reference_data import (
    TAGS,
    localise_role_labels,
)
from ..types import DemoContext
from .audited import report_customers
from .people import DemoPeople, ensure_people

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
    audit: bool = False,
) -> DemoRun:
    """The whole demo (see the module docstring): people, ``customers`` customers, then the
    ``crm_demo_data`` hook (the core's records, then every plugin's; only those named in
    ``plugins`` when given, e.g. ``["core.demo"]`` for the core's alone). With
    ``relabel_roles`` the built-in roles still carrying a shipped label get the ``locale`` one.
    With ``audit`` every customer and core record gets its ``create`` audit entry (no event),
    and the plugins see ``DemoContext.audit``. Needs an app context."""
    rng = rng or random.Random(42)
    password = password or generate_password()
    if relabel_roles:
        localise_role_labels(locale)
    people = ensure_people(locale, password)
    run = DemoRun(locale=locale, password=password, people=people)
    ids = insert_customers(customers, people, locale, chunk, rng, echo, audit=audit)
    run.counts["customers"] = len(ids)
    context = DemoContext(
        locale=locale,
        admin=_admin_actor(),
        users={"admin": _admin_ids(), **people.by_role()},
        departments=dict(people.department_names),
        customers=ids[-RELATED_MAX:],
        random=rng,
        audit=audit,
    )
    base = rng.random()
    before = {name: last_id(model) for name, model in COUNTED.items()}
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


def last_id(model) -> int:
    """The highest id of ``model`` so far (0 when empty)."""
    return model.select(model.id).order_by(model.id.desc()).scalar() or 0


def insert_customers(
    customers: int,
    people: DemoPeople,
    locale: str,
    chunk: int,
    rng: random.Random,
    echo,
    audit: bool = False,
) -> list[int]:
    """Bulk-insert ``customers`` customers (owners and departments from ``people``, ~10% tagged);
    returns their ids. With ``audit`` each chunk's customers are reported as creates in the
    chunk's transaction (:func:`crm_core.demo.audited.report_customers`)."""
    now = utcnow()
    serial = last_id(Customer) + 1  # phones and e-mails continue from the last customer
    owners = _owners(people)
    with database.atomic():
        tag_names = {Tag.get_or_create(name=name)[0].id: name for name in TAGS[locale]}
    tag_ids = list(tag_names)
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
            if audit:
                tags = {link["customer"]: [tag_names[link["tag"]]] for link in links}
                report_customers(names, rows, ids, tags)
            all_ids += ids
        echo(f"customers: {len(all_ids):,}/{customers:,}")
    return all_ids


def _admin_ids() -> list[int]:
    active = User.is_active == True  # noqa: E712  (peewee builds SQL from the comparison)
    query = User.select(User.id).join(UserRole).join(Role).where(Role.name == ADMIN_ROLE, active)
    return [u.id for u in query.order_by(User.id)]


def _admin_actor():
    """The first active admin's actor (None before ``crm init`` made one)."""
    ids = _admin_ids()
    return actor_for_user(User.get_by_id(ids[0])) if ids else None


def insert_ids(model, rows: list[dict]) -> list[int]:
    """Bulk-insert dicts that all have the same keys; returns the new ids in order."""
    if not rows:
        return []
    fields = list(rows[0])
    return insert_rows(model, fields, [tuple(r[f] for f in fields) for r in rows])
