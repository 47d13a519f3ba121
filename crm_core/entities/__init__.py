"""The core CRM objects: customers, companies, contacts, pipelines and deals, activities, tickets,
tags and segments, with their REST collections (``crm_core.records.register_crud``), customer
import/export and the ``crm demo-data`` command."""
