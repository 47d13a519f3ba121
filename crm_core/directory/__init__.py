"""Users, departments and roles as people manage them: the rules a change to the directory
follows, whichever way it comes in (the REST API or the workbench's administration pages).

- :mod:`crm_core.directory.users`: ``update_user`` (every rule of changing a user),
  ``check_roles`` and ``check_manages`` (who may hand out roles, who may change whom).
"""
