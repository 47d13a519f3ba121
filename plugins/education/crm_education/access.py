"""Row rules beyond the role grants: a teacher sees the students of their own classes.

Campus managers need nothing here: leads, trials, follow-ups, enrolments and packages are records
owned by the consultant and placed at the campus (a department), so the core's scopes ``own`` and
``department_tree`` already say who sees them. A consultant who may claim from the shared pool
(公海) is given the campus (``department``) scope on customers, since claiming is the core's
customer update of an unowned lead; an actor whose only role is the consultant role
(``EDUCATION_CONSULTANT_ROLE``) is narrowed back to their own customers plus the unowned ones, so
the wider scope shows the pool and never a colleague's leads. A teacher owns none of them; an actor whose only role is the teacher role (``EDUCATION_TEACHER_ROLE``) is narrowed to
the students enrolled in, or booked for a trial in, a class or session they teach. The filter
only narrows what the role grants (give the teacher role ``read`` on these resources with scope
``all``, and the field rules that hide fees).
"""

from __future__ import annotations

from crm_core.plugin_api import Customer

from . import settings
from .models import Enrolment, Klass, Package, Session, Trial


def _only_role(actor, setting: str) -> bool:
    roles = getattr(actor, "roles", None) or frozenset()
    return bool(roles) and set(roles) == {settings.get(setting)} and not actor.is_admin


def is_teacher_only(actor) -> bool:
    """The actor holds the teacher role and no other role."""
    return _only_role(actor, "TEACHER_ROLE")


def consultant_filter(actor, model):
    """The customers a consultant-only actor may see (their own and the pool's), or None."""
    if model is Customer and _only_role(actor, "CONSULTANT_ROLE"):
        return (Customer.owner_id == actor.id) | Customer.owner_id.is_null()
    return None


def taught_classes(actor):
    """Ids of the classes the actor teaches (as the class's teacher or a session's substitute)."""
    own = Klass.select(Klass.id).where(Klass.teacher_id == actor.id)
    subbed = Session.select(Session.klass).where(Session.teacher_id == actor.id)
    return own | subbed


def taught_students(actor):
    """Ids of the students of the actor's classes (active enrolments and trials in their sessions)."""
    enrolled = Enrolment.select(Enrolment.customer_id).where(
        Enrolment.klass.in_(taught_classes(actor)), Enrolment.status == "active"
    )
    trying = Trial.select(Trial.customer_id).where(
        Trial.session.in_(Session.select(Session.id).where(Session.klass.in_(taught_classes(actor))))
    )
    return enrolled | trying


def teacher_filter(actor, model):
    """The rows of ``model`` a teacher-only actor may see, or None for no narrowing."""
    if not is_teacher_only(actor):
        return None
    if model is Customer:
        return Customer.id.in_(taught_students(actor))
    if model is Enrolment:
        return Enrolment.klass.in_(taught_classes(actor))
    if model is Package:
        return Package.customer_id.in_(taught_students(actor))
    if model is Trial:
        return Trial.customer_id.in_(taught_students(actor))
    return None
