"""The ERP sync example is tested as an integrator runs it: the script talks HTTP to a real
crm-core server (the test app, on a free port) and to the fake ERP (``fake_erp.py``).

The script is loaded from its file by path (the example is not a package to install).
"""

import importlib.util
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server


def _load_script():
    path = Path(__file__).resolve().parent.parent / "erp_sync.py"
    spec = importlib.util.spec_from_file_location("erp_sync", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["erp_sync"] = module
    spec.loader.exec_module(module)
    return module


erp_sync = sys.modules.get("erp_sync") or _load_script()


@pytest.fixture
def crm_url(app):
    """The test app (SQLite or PostgreSQL) served over HTTP until the test ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
