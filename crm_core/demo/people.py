"""The people of ``crm demo-data``: a department tree and one login per role, in the demo's locale.

The tree is a small sales organisation: headquarters with two regions of two cities each, and a
customer-service centre. Each city has one sales rep, each region a manager, the service centre a
support agent; the built-in roles' grants then make each login see what that job sees (a rep:
their city's records, which are their own; a manager: the region's; the agent: every ticket and
customer, changing the service centre's tickets).

Users are found again by username, so a second run reuses them: their department, name, roles
and language are brought back to the demo's, and their password is set to the one the run prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..auth import create_user, record_change, set_password, user_dict
from ..auth.models import Department, Role, User, UserRole
from ..db import database, utcnow
from ..directory.departments import create_department

#: (key, parent key, {locale: name}): parents come before their children
DEPARTMENTS: tuple[tuple[str, str | None, dict[str, str]], ...] = (
    ("hq", None, {"zh_CN": "总部", "en": "Headquarters"}),
    ("east", "hq", {"zh_CN": "华东大区", "en": "East Region"}),
    ("shanghai", "east", {"zh_CN": "上海", "en": "Shanghai"}),
    ("hangzhou", "east", {"zh_CN": "杭州", "en": "Hangzhou"}),
    ("south", "hq", {"zh_CN": "华南大区", "en": "South Region"}),
    ("guangzhou", "south", {"zh_CN": "广州", "en": "Guangzhou"}),
    ("shenzhen", "south", {"zh_CN": "深圳", "en": "Shenzhen"}),
    ("service", "hq", {"zh_CN": "客服中心", "en": "Customer Service"}),
)

#: (username, roles, department key, {locale: display name}); the first role is the job
USERS: tuple[tuple[str, tuple[str, ...], str, dict[str, str]], ...] = (
    ("manager.east", ("manager",), "east", {"zh_CN": "李明", "en": "Ming Li"}),
    ("manager.south", ("manager",), "south", {"zh_CN": "王芳", "en": "Fang Wang"}),
    ("sales.shanghai", ("sales",), "shanghai", {"zh_CN": "张伟", "en": "Wei Zhang"}),
    ("sales.hangzhou", ("sales",), "hangzhou", {"zh_CN": "刘洋", "en": "Yang Liu"}),
    ("sales.guangzhou", ("sales",), "guangzhou", {"zh_CN": "陈静", "en": "Jing Chen"}),
    ("sales.shenzhen", ("sales",), "shenzhen", {"zh_CN": "赵磊", "en": "Lei Zhao"}),
    # reads every customer and ticket (readonly), works the service centre's tickets (service)
    ("support.agent", ("service", "readonly"), "service", {"zh_CN": "周婷", "en": "Ting Zhou"}),
)


@dataclass
class DemoUser:
    """One demo login: who it is, where it sits and what it does."""

    id: int
    username: str
    name: str
    role: str
    roles: tuple[str, ...]
    department_id: int
    department: str


@dataclass
class DemoPeople:
    """The demo's departments (key → id, and localised name → id) and users."""

    department_ids: dict[str, int] = field(default_factory=dict)
    department_names: dict[str, int] = field(default_factory=dict)
    users: list[DemoUser] = field(default_factory=list)

    def by_role(self) -> dict[str, list[int]]:
        """User ids per job role (``"sales"``, ``"manager"``, ``"service"``)."""
        out: dict[str, list[int]] = {}
        for user in self.users:
            out.setdefault(user.role, []).append(user.id)
        return out

    def with_role(self, role: str) -> list[DemoUser]:
        """The demo users whose job is ``role``."""
        return [u for u in self.users if u.role == role]


def _department(name: str, parent_id: int | None) -> Department:
    query = Department.select().where(Department.name == name)
    query = query.where(Department.parent.is_null() if parent_id is None else Department.parent == parent_id)
    return query.order_by(Department.id).first() or create_department(name, parent_id)


def ensure_people(locale: str, password: str) -> DemoPeople:
    """Create (or bring back) the demo department tree and users in ``locale``; every demo user's
    password becomes ``password`` (policy-checked by the auth module)."""
    people = DemoPeople()
    with database.atomic():
        for key, parent, names in DEPARTMENTS:
            dept = _department(names[locale], people.department_ids.get(parent) if parent else None)
            people.department_ids[key] = dept.id
            people.department_names[dept.name] = dept.id
        dept_names = {key: names[locale] for key, _parent, names in DEPARTMENTS}
        for username, roles, dept_key, names in USERS:
            dept_id = people.department_ids[dept_key]
            user = User.get_or_none(User.username == username)
            if user is None:
                user = create_user(username, password, roles=roles, department_id=dept_id, name=names[locale])
                User.update(language=locale).where(User.id == user.id).execute()
            else:
                _restore(user, roles, dept_id, names[locale], locale, password)
            people.users.append(
                DemoUser(user.id, username, names[locale], roles[0], roles, dept_id, dept_names[dept_key])
            )
    return people


def _restore(user: User, roles, dept_id: int, name: str, locale: str, password: str) -> None:
    """Bring an existing demo user back to the demo's department, name, roles and password."""
    before = user_dict(user)
    User.update(department=dept_id, name=name, language=locale, is_active=True, updated_at=utcnow()).where(
        User.id == user.id
    ).execute()
    have = {r.name for r in Role.select(Role.name).join(UserRole).where(UserRole.user == user)}
    for role in Role.select().where(Role.name.in_([r for r in roles if r not in have])):
        UserRole.create(user=user, role=role)
    set_password(user, password)
    after = user_dict(User.get_by_id(user.id))
    if after != before:
        record_change("update", "users", user.id, before, after)
