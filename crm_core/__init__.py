"""crm-core: a small CRM core that plugins extend through pluggy hooks.

Public names for plugin authors: ``hookimpl``, ``hookspec`` (a plugin offering hooks of its own
to other plugins) and ``create_app`` here, everything else in
``crm_core.plugin_api`` (tests also use ``crm_core.testing`` and ``crm_core.browser_testing``).
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("crm_core")
#: marks the hook specifications a plugin offers to others (its ``hookspecs`` attribute)
hookspec = pluggy.HookspecMarker("crm_core")


def create_app(config=None, plugins=None):
    """Build the Flask app; see :func:`crm_core.app.create_app`."""
    # cycle: every layer imports this package (hookimpl), and the app imports every layer
    from .app import create_app as _create_app

    return _create_app(config, plugins)


__all__ = ["__version__", "create_app", "hookimpl", "hookspec"]
