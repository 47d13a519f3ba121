"""The front desk registers patients: it types the resident ID number and the phone, which it then
sees masked (the core's ``masked-writable`` field rule). Only the rules migration 0002 made
(``masked``) are changed; a rule an admin changed since is left as it is."""

import datetime

import peewee as pw

FIELDS = ("phone", "resident_id_number")


def up(migrator, db):
    role = pw.Table("role", ("id", "name")).bind(db)
    rule = pw.Table(
        "permission_field_rule", ("id", "role_id", "resource", "field", "rule", "updated_at")
    ).bind(db)
    desk = role.select(role.id).where(role.name == "medical_front_desk").scalar()
    if desk is None:
        return
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    rule.update(rule="masked-writable", updated_at=now).where(
        rule.role_id == desk, rule.resource == "customers", rule.field.in_(FIELDS), rule.rule == "masked"
    ).execute()
