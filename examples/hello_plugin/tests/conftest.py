"""The example plugin is tested the way a third party would: registered into the real app.

It is not installed into the project's environment (every app there would grow its routes), so
the tests load the package from the source tree and register it with the ``register_plugin``
fixture; ``tests/test_example_install.py`` at the top level pip-installs it for real. The package
is loaded by path rather than by putting its folder on ``sys.path``: a build there leaves a
``crm_hello.egg-info`` whose entry point would make every app of the session load the plugin.
"""

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_example():
    package = Path(__file__).resolve().parent.parent / "crm_hello"
    spec = importlib.util.spec_from_file_location(
        "crm_hello", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["crm_hello"] = module
    spec.loader.exec_module(module)
    return module


crm_hello = sys.modules.get("crm_hello") or _load_example()


@pytest.fixture
def hello_app(register_plugin):
    """The CRM with the example plugin registered and migrated."""
    return register_plugin(crm_hello, "hello")


@pytest.fixture
def hello_client(hello_app):
    return hello_app.test_client()


@pytest.fixture
def user_headers(hello_app):
    """``user_headers(username, roles)``: Authorization headers of a new user of the hello app."""
    from crm_core.testing import user_with_token

    def make(username, roles=("admin",)):
        with hello_app.app_context():
            return user_with_token(username, roles)[1]

    return make
