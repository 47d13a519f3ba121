"""docs/plugins.md names every built-in role a plugin may seed grants for, as the API lists them,
and says how to seed them (the plugin's own migration)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def test_every_builtin_role_is_documented_for_plugin_authors(client, admin_headers):
    roles = client.get("/api/v1/roles", headers=admin_headers).get_json()
    builtin = {r["name"] for r in roles if r["builtin"]}
    assert builtin >= {"admin", "manager", "sales", "service", "readonly"}
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Permissions and the built-in roles", 1)[1].split("\n## ", 1)[0]
    assert all(f"| `{name}` |" in section for name in builtin), builtin
    assert "seed_builtin_grants(db, GRANTS)" in section and "built-in" in section
