"""Demo data: a believable business (people, customers, companies, deals, tickets, activities)
for trying the CRM, seeded by ``crm demo-data`` or at first run; plugins add theirs through
``crm_demo_data``."""
