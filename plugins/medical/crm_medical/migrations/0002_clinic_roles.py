"""The clinic's roles, created once with the grants their work needs (roles are data: an admin
may change them afterwards, and a second run changes nothing):

- every role finds any patient (the patient index: contact data reads by the core's rules and
  masks), and registers and changes those of its department;
- ``medical_doctor``: medical records and appointments of their department, break-glass for
  themselves;
- ``medical_nurse``: the same appointments, medical records to read;
- ``medical_front_desk``: appointments of their department, no medical record; the
  resident ID number and the phone are masked (110105********002X, 138****5678) and the
  allergies hidden;
- ``medical_department_head``: everything of their department tree, the break-glass review
  queue of it, and the events feed (each event within their scope of its resource).

The labels are Chinese (the clinics this plugin is for); a role's label is data, stored once,
so an English-speaking site relabels them on the roles page.

Whatever the grants say, a medical record is read only inside its treating department
(``crm_medical.isolation``): a department_tree or ``all`` scope does not widen that.
"""

import datetime

import peewee as pw

DEPT, TREE, OWN, ALL = "department", "department_tree", "own", "all"
RECORDS, APPOINTMENTS, BREAK_GLASS = "medical.records", "medical.appointments", "medical.break_glass"
CRU = ("read", "create", "update")
#: the patient index: every clinic role finds any patient (a patient seen in one department
#: arrives in another); registering and changing them stay within the department
PATIENTS = [("customers", "read", ALL), ("customers", "create", DEPT), ("customers", "update", DEPT)]

ROLES = {
    "medical_doctor": (
        "医生",
        [
            *PATIENTS,
            *[(RECORDS, a, DEPT) for a in (*CRU, "export")],
            *[(APPOINTMENTS, a, DEPT) for a in CRU],
            (BREAK_GLASS, "read", OWN),
            (BREAK_GLASS, "create", OWN),
            ("departments", "read", ALL),
            ("users", "read", DEPT),
        ],
        [],
    ),
    "medical_nurse": (
        "护士",
        [
            *PATIENTS,
            (RECORDS, "read", DEPT),
            *[(APPOINTMENTS, a, DEPT) for a in CRU],
            (BREAK_GLASS, "read", OWN),
            (BREAK_GLASS, "create", OWN),
            ("departments", "read", ALL),
            ("users", "read", DEPT),
        ],
        [],
    ),
    "medical_front_desk": (
        "前台",
        [
            *PATIENTS,
            *[(APPOINTMENTS, a, DEPT) for a in CRU],
            ("departments", "read", ALL),
            ("users", "read", DEPT),
        ],
        [
            ("customers", "phone", "masked"),
            ("customers", "resident_id_number", "masked"),
            ("customers", "allergies", "hidden"),
        ],
    ),
    "medical_department_head": (
        "科室主任",
        [
            ("customers", "read", ALL),
            ("customers", "create", TREE),
            ("customers", "update", TREE),
            *[(RECORDS, a, TREE) for a in (*CRU, "export")],
            *[(APPOINTMENTS, a, TREE) for a in (*CRU, "delete")],
            (BREAK_GLASS, "read", TREE),
            (BREAK_GLASS, "create", OWN),
            (BREAK_GLASS, "review", TREE),
            ("departments", "read", ALL),
            ("users", "read", TREE),
            ("audit", "read", TREE),
            # the events feed: each event shown within the head's scope of its own resource, so
            # the break-glass announcements of their department reach them there
            ("events", "read", ALL),
        ],
        [],
    ),
}


def up(migrator, db):
    role = pw.Table("role", ("id", "name", "label", "builtin", "created_at", "updated_at")).bind(db)
    grant = pw.Table(
        "permission_grant", ("id", "role_id", "resource", "action", "scope", "created_at", "updated_at")
    ).bind(db)
    rule = pw.Table(
        "permission_field_rule", ("id", "role_id", "resource", "field", "rule", "created_at", "updated_at")
    ).bind(db)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    stamps = {"created_at": now, "updated_at": now}
    for name, (label, grants, rules) in ROLES.items():
        if role.select(role.id).where(role.name == name).exists():
            continue  # made by hand or by an earlier run: left as it is
        role.insert(name=name, label=label, builtin=False, **stamps).execute()
        # read back rather than trust insert's return value, which differs between the databases
        role_id = role.select(role.id).where(role.name == name).scalar()
        grant.insert(
            [{"role_id": role_id, "resource": r, "action": a, "scope": s, **stamps} for r, a, s in grants]
        ).execute()
        if rules:
            rule.insert(
                [{"role_id": role_id, "resource": r, "field": f, "rule": k, **stamps} for r, f, k in rules]
            ).execute()
