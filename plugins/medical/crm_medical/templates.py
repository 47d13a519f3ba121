"""The entity templates of the plugin (``crm_entities``): the patient's fields on customers and
the clinical fields of medical records.

Gender and birth date are the customer's own columns (``gender``, ``birthday``), so the template
does not repeat them. Everything a person could be recognised or harmed by is encrypted; the
numbers looked up at the desk (resident ID, insurance number) carry a blind index so
``?resident_id_number=...`` finds the patient without decrypting the table. The resident ID's
checksum is checked on every write (:func:`crm_medical.patients.check_written`): a field
definition can say its shape, not its MOD 11-2 check.
"""

from __future__ import annotations

from .models import RECORDS

PATIENT_FIELDS = [
    {
        "entity": "customers",
        "name": "resident_id_number",
        "type": "string",
        "label": {"en": "Resident ID number", "zh-CN": "居民身份证号"},
        "help": {
            "en": "18 characters, checked with its MOD 11-2 check character",
            "zh-CN": "18 位，校验码按 MOD 11-2 校验",
        },
        "encrypted": True,
        "blind_index": True,
        "max_length": 18,
    },
    {
        "entity": "customers",
        "name": "medical_record_no",
        "type": "string",
        "label": {"en": "Medical record number", "zh-CN": "病历号"},
        "filterable": True,
        "max_length": 64,
    },
    {
        "entity": "customers",
        "name": "allergies",
        "type": "text",
        "label": {"en": "Allergies", "zh-CN": "过敏史"},
        "encrypted": True,
    },
    {
        "entity": "customers",
        "name": "emergency_contact_name",
        "type": "string",
        "label": {"en": "Emergency contact", "zh-CN": "紧急联系人"},
        "encrypted": True,
    },
    {
        "entity": "customers",
        "name": "emergency_contact_phone",
        "type": "phone",
        "label": {"en": "Emergency contact phone", "zh-CN": "紧急联系人电话"},
        "encrypted": True,
    },
    {
        "entity": "customers",
        "name": "emergency_contact_relationship",
        "type": "string",
        "label": {"en": "Relationship to the patient", "zh-CN": "与患者关系"},
        "max_length": 50,
    },
    {
        "entity": "customers",
        "name": "insurance_type",
        "type": "choice",
        "label": {"en": "Insurance", "zh-CN": "医保类型"},
        "choices": [
            {"value": "employee", "label": {"en": "Urban employee", "zh-CN": "城镇职工医保"}},
            {"value": "resident", "label": {"en": "Urban and rural resident", "zh-CN": "城乡居民医保"}},
            {"value": "commercial", "label": {"en": "Commercial", "zh-CN": "商业保险"}},
            {"value": "self_pay", "label": {"en": "Self-pay", "zh-CN": "自费"}},
        ],
    },
    {
        "entity": "customers",
        "name": "insurance_number",
        "type": "string",
        "label": {"en": "Insurance number", "zh-CN": "医保卡号"},
        "encrypted": True,
        "blind_index": True,
        "max_length": 64,
    },
]

#: the clinical texts of a record: encrypted, never searched, read only inside the department
CLINICAL_FIELDS = ("complaint", "diagnosis", "prescriptions", "treatments")
#: the metadata of the files attached to a visit (a JSON array of ``{name, content_type, size,
#: sha256}``): a file's name or description says what was examined, so it is clinical too
ATTACHMENTS = "attachments"
#: every encrypted field of a record: never in an event or audit image, bumps ``revision``
SEALED_FIELDS = (*CLINICAL_FIELDS, ATTACHMENTS)

RECORD_FIELDS = [
    {
        "entity": RECORDS,
        "name": "complaint",
        "type": "text",
        "label": {"en": "Chief complaint", "zh-CN": "主诉"},
        "encrypted": True,
    },
    {
        "entity": RECORDS,
        "name": "diagnosis",
        "type": "text",
        "label": {"en": "Diagnosis", "zh-CN": "诊断"},
        "encrypted": True,
    },
    {
        "entity": RECORDS,
        "name": "prescriptions",
        "type": "text",
        "label": {"en": "Prescriptions", "zh-CN": "处方"},
        "encrypted": True,
    },
    {
        "entity": RECORDS,
        "name": "treatments",
        "type": "text",
        "label": {"en": "Treatments", "zh-CN": "治疗与处置"},
        "encrypted": True,
    },
    {
        "entity": RECORDS,
        "name": ATTACHMENTS,
        "type": "text",
        "label": {"en": "Attachments", "zh-CN": "附件"},
        "help": {
            "en": 'JSON: [{"name", "description", "content_type", "size", "sha256"}]',
            "zh-CN": 'JSON：[{"name", "description", "content_type", "size", "sha256"}]',
        },
        "encrypted": True,
    },
]

TEMPLATES = [
    {
        "name": "medical_patient",
        "version": "1",
        "label": {"en": "Patient", "zh-CN": "患者"},
        "fields": PATIENT_FIELDS,
    },
    {
        "name": "medical_record",
        "version": "2",
        "label": {"en": "Medical record", "zh-CN": "病历"},
        "fields": RECORD_FIELDS,
    },
]
