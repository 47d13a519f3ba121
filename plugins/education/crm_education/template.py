"""The student fields the plugin adds to the core's customers (an industry template applied by
``crm migrate`` through ``crm_entities``). Leads and students are customers: these fields say who
the student's guardian is, where they study and what they want to learn. Names carry the
``education_`` prefix: customers' custom fields are shared with every other plugin and admin."""

from __future__ import annotations

GRADES = ("preschool", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9", "g10", "g11", "g12", "adult")

TEMPLATE = {
    "name": "education_students",  # not "education": the core's template tests use that name
    "version": "1",
    "fields": [
        {
            "entity": "customers",
            "name": "education_guardian_name",
            "type": "string",
            "max_length": 100,
            "label": {"en": "Guardian", "zh-CN": "监护人"},
        },
        {
            "entity": "customers",
            "name": "education_guardian_phone",
            "type": "phone",
            "label": {"en": "Guardian's phone", "zh-CN": "监护人电话"},
        },
        {
            "entity": "customers",
            "name": "education_grade",
            "type": "choice",
            "choices": list(GRADES),
            "filterable": True,
            "label": {"en": "Grade", "zh-CN": "年级"},
        },
        {
            "entity": "customers",
            "name": "education_school",
            "type": "string",
            "max_length": 200,
            "label": {"en": "School", "zh-CN": "就读学校"},
        },
        {
            "entity": "customers",
            "name": "education_goals",
            "type": "text",
            "max_length": 2000,
            "label": {"en": "Learning goals", "zh-CN": "学习目标"},
        },
    ],
}
