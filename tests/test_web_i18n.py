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


def test_a_message_with_a_context_is_extracted_translated_and_served_apart(tmp_path):
    """Two plugins' "From" need not agree: pgettext keeps them apart through sync and at runtime."""
    from flask import Flask
    from flask_babel import Babel, force_locale, pgettext

    from crm_core.web.catalogs import CONTEXT_SEPARATOR, sync

    package = tmp_path / "crm_example"
    (package / "translations").mkdir(parents=True)
    (package / "translations" / "babel.cfg").write_text("[python: crm_example/**.py]\n")
    (package / "views.py").write_text(
        'from flask_babel import gettext as _, pgettext\nA = pgettext("tier change", "From")\nB = _("From")\n'
    )
    missing = sync(package, {f"tier change{CONTEXT_SEPARATOR}From": "原等级", "From": "从"})
    assert missing == []
    assert problems(package) == []
    app = Flask(__name__)
    Babel(app, default_translation_directories=str(package / "translations"))
    with app.test_request_context(), force_locale("zh_CN"):
        assert pgettext("tier change", "From") == "原等级"
        from flask_babel import gettext

        assert gettext("From") == "从"
