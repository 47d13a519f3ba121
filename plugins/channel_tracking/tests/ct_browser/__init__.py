"""Browser tests of the channel tracking screens (a package, so its conftest does not shadow
the ``conftest`` module the other tests import helpers from)."""
