"""The warranty plugin is tested as a third party would: registered into the real app.

It is not installed into the project's environment, so the package is loaded from the source
tree by path (not by putting its folder on ``sys.path``: a build there leaves an egg-info whose
entry point would make every app of the session load it) and registered with the
``register_plugin`` fixture of ``crm_core.testing``; ``tests/test_example_warranty_install.py``
pip-installs it for real.
"""

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_example():
    package = Path(__file__).resolve().parent.parent / "crm_warranty"
    spec = importlib.util.spec_from_file_location(
        "crm_warranty", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["crm_warranty"] = module
    spec.loader.exec_module(module)
    return module


crm_warranty = sys.modules.get("crm_warranty") or _load_example()


@pytest.fixture
def warranty_app(register_plugin):
    """The CRM with the warranty plugin registered and migrated."""
    return register_plugin(crm_warranty, "warranty")


@pytest.fixture
def api(warranty_app):
    return warranty_app.test_client()


@pytest.fixture
def headers_of(warranty_app):
    """``headers_of(username, roles, department_id=None)`` -> ``(user, headers)`` of a new user."""
    from crm_core.testing import user_with_token

    def make(username, roles=("admin",)):
        with warranty_app.app_context():
            return user_with_token(username, roles)

    return make
