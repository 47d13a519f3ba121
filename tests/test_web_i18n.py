"""The catalogues: every string the code uses is in the catalogue with a Chinese translation, and
the committed .mo matches the .po (for the core and every plugin shipped in this repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

import crm_core
from crm_core.web.catalogs import problems

ROOT = Path(crm_core.__file__).parent
PACKAGES = [ROOT] + sorted(
    p.parent.parent for p in (ROOT.parent / "plugins").glob("*/*/translations/babel.cfg")
)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_catalogues_are_complete_and_compiled(package):
    assert problems(package) == [], f"run: python -m crm_core.web.catalogs sync {package}"
