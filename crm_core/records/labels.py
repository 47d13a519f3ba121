"""Labels people read for collections and core fields, in every language the CRM speaks.

The workbench shows them, the importers match spreadsheet headings against them (in either
language) and error messages name fields and collections with them. They are lazy strings:
each renders in the language of the request that reads it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: The languages of the workbench, messages and catalogues: code -> name in that language.
LANGUAGES = {"zh_CN": "简体中文", "en": "English"}

RESOURCE_LABELS = {
    "customers": _l("Customers"),
    "companies": _l("Companies"),
    "contacts": _l("Contacts"),
    "deals": _l("Deals"),
    "activities": _l("Activities"),
    "tickets": _l("Tickets"),
    "tags": _l("Tags"),
    "segments": _l("Segments"),
    "pipelines": _l("Pipelines"),
    "automations": _l("Automation rules"),
    "webhooks": _l("Webhooks"),
}

FIELD_LABELS = {
    "id": _l("ID"),
    "name": _l("Name"),
    "title": _l("Title"),
    "subject": _l("Subject"),
    "phone": _l("Phone"),
    "email": _l("E-mail"),
    "gender": _l("Gender"),
    "birthday": _l("Birthday"),
    "source_channel": _l("Source channel"),
    "lifecycle_stage": _l("Lifecycle stage"),
    "tags": _l("Tags"),
    "owner_id": _l("Owner"),
    "department_id": _l("Department"),
    "created_at": _l("Created"),
    "updated_at": _l("Updated"),
    "industry": _l("Industry"),
    "website": _l("Website"),
    "address": _l("Address"),
    "parent_id": _l("Parent"),
    "path": _l("Path"),
    "customer_id": _l("Customer"),
    "company_id": _l("Company"),
    "pipeline_id": _l("Pipeline"),
    "stage_id": _l("Stage"),
    "amount": _l("Amount"),
    "currency": _l("Currency"),
    "expected_close_date": _l("Expected close date"),
    "status": _l("Status"),
    "close_reason": _l("Close reason"),
    "closed_at": _l("Closed"),
    "stage_changed_at": _l("Stage changed"),
    "kind": _l("Kind"),
    "body": _l("Body"),
    "due_at": _l("Due"),
    "done": _l("Done"),
    "done_at": _l("Done at"),
    "related_type": _l("Related type"),
    "related_id": _l("Related ID"),
    "description": _l("Description"),
    "priority": _l("Priority"),
    "assignee_id": _l("Assignee"),
    "sla_due_at": _l("SLA due"),
    "sla_breached": _l("SLA breached"),
    "resolved_at": _l("Resolved"),
    "color": _l("Colour"),
    "filters": _l("Filters"),
    "role": _l("Role"),
    "is_primary": _l("Primary"),
    "trigger": _l("Trigger"),
    "conditions": _l("Conditions"),
    "actions": _l("Actions"),
    "active": _l("Active"),
    "url": _l("URL"),
    "events": _l("Events"),
    "secret_hint": _l("Secret"),
    "consecutive_failures": _l("Failures in a row"),
    "failing_since": _l("Failing since"),
    "last_success_at": _l("Last success"),
    "last_failure_at": _l("Last failure"),
    "type": _l("Type"),
    "is_default": _l("Default"),
    "stages": _l("Stages"),
}
