"""The privacy export as a readable file: one self-contained UTF-8 HTML page, labelled in Chinese
and English at once (the person may read either; the handler need not choose), with every section
of the JSON document as a table. The JSON download stays the machine-readable copy (GDPR Art.
20: "structured, commonly used and machine-readable")."""

from __future__ import annotations

import json
from html import escape
from typing import Any

#: section key -> (中文, English)
LABELS = {
    "customer": ("客户信息", "Customer"),
    "contacts": ("联系人", "Contacts"),
    "deals": ("商机", "Deals"),
    "activities": ("活动记录", "Activities"),
    "tickets": ("工单", "Tickets"),
    "tags": ("标签", "Tags"),
    "consents": ("同意记录", "Consent records"),
    "plugins": ("插件数据", "Plugin data"),
}
#: field names shown with a Chinese label beside them (others as they are)
FIELDS = {
    "name": "姓名",
    "phone": "电话",
    "email": "电子邮件",
    "gender": "性别",
    "birthday": "生日",
    "source_channel": "来源渠道",
    "lifecycle_stage": "生命周期阶段",
    "custom": "自定义字段",
    "created_at": "创建时间",
    "updated_at": "更新时间",
    "title": "标题",
    "subject": "主题",
    "body": "内容",
    "description": "描述",
    "amount": "金额",
    "status": "状态",
    "purpose": "目的",
    "legal_basis": "法律依据",
    "source": "来源",
    "recorded_at": "记录时间",
    "evidence": "凭证",
}
TITLE = ("个人信息副本", "Copy of your personal data")
INTRO = (
    "这是我们保存的关于您的全部个人信息（《个人信息保护法》第四十五条）。",
    "This is all personal data we hold about you (GDPR Art. 15).",
)
GENERATED = ("生成时间", "Generated at")
EMPTY = ("无", "none")


def _both(pair: tuple[str, str]) -> str:
    return f"{escape(pair[0])} / {escape(pair[1])}"


def _key(name: str) -> str:
    label = FIELDS.get(name)
    return f"{escape(label)} / {escape(name)}" if label else escape(name)


def _cell(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, dict | list):
        return f"<pre>{escape(json.dumps(value, ensure_ascii=False, indent=2, default=str))}</pre>"
    return escape(str(value))


def _table(rows: list[dict]) -> str:
    if not rows:
        return f"<p class='empty'>{_both(EMPTY)}</p>"
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    head = "".join(f"<th>{_key(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(data: dict) -> str:
    if not data:
        return f"<p class='empty'>{_both(EMPTY)}</p>"
    body = "".join(f"<tr><th>{_key(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in data.items())
    return f"<table class='pairs'><tbody>{body}</tbody></table>"


def _section(key: str, value: Any) -> str:
    label = LABELS.get(key, (key, key))
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        inner = _table(value)
    elif isinstance(value, list):
        inner = "<p>" + (", ".join(escape(str(v)) for v in value) or _both(EMPTY)) + "</p>"
    elif isinstance(value, dict) and key == "plugins":
        inner = "".join(f"<h3>{escape(name)}</h3>{_cell(data)}" for name, data in value.items()) or _pairs({})
    elif isinstance(value, dict):
        inner = _pairs(value)
    else:
        inner = f"<p>{_cell(value)}</p>"
    return f"<section><h2>{_both(label)}</h2>{inner}</section>"


def export_html(document: dict) -> str:
    """The export ``document`` (``export_customer``) as a UTF-8 HTML page (see the module)."""
    sections = "".join(
        _section(key, value) for key, value in document.items() if key not in ("format", "generated_at")
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{_both(TITLE)}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}}
th,td{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} pre{{margin:0;white-space:pre-wrap}} .empty{{color:#777}}
</style></head><body>
<h1>{_both(TITLE)}</h1>
<p>{escape(INTRO[0])}<br>{escape(INTRO[1])}</p>
<p>{_both(GENERATED)}: {escape(str(document.get("generated_at", "")))} · {escape(str(document.get("format", "")))}</p>
{sections}
</body></html>
"""
