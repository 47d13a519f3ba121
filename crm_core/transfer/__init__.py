"""Import and export, in one place: reading spreadsheets (CSV in any of the encodings people
send, XLSX), matching their headings to fields, importing customers and custom object records
through the same rules as the API, exporting within the reader's scope, and the tasks that run
large ones outside the request. The HTTP endpoints are in ``crm_core.api`` and the workbench's
wizard in ``crm_core.web``."""
