"""The columns of a customer file: what an export writes, and how an import maps a
spreadsheet's headings and cells onto customer fields (English names, ``custom.<name>``, the
workbench's labels in either language, the usual Chinese headings and values)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from flask_babel import gettext as _

from ..entities.schemas import CustomerSchema
from ..errors import APIError
from . import headers as headers_

#: Columns export writes and import reads (custom fields follow as ``custom.<name>``).
EXPORT_COLUMNS = (
    "id",
    "name",
    "phone",
    "email",
    "gender",
    "birthday",
    "source_channel",
    "lifecycle_stage",
    "owner_id",
    "department_id",
    "tags",
    "created_at",
    "updated_at",
)
#: Columns import reads back but does not write (the database assigns them).
IGNORED_ON_IMPORT = frozenset({"id", "created_at", "updated_at"})

#: Header aliases: what spreadsheets made by people call the fields (normalised: lower-case,
#: no spaces, no ``*`` required-marks).
HEADER_ALIASES = {
    "姓名": "name",
    "名字": "name",
    "客户": "name",
    "客户名称": "name",
    "客户姓名": "name",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "联系电话": "phone",
    "mobile": "phone",
    "邮箱": "email",
    "电子邮箱": "email",
    "电子邮件": "email",
    "e-mail": "email",
    "性别": "gender",
    "生日": "birthday",
    "出生日期": "birthday",
    "来源": "source_channel",
    "来源渠道": "source_channel",
    "渠道": "source_channel",
    "source": "source_channel",
    "阶段": "lifecycle_stage",
    "客户阶段": "lifecycle_stage",
    "生命周期": "lifecycle_stage",
    "标签": "tags",
    "负责人": "owner_id",
    "负责人id": "owner_id",
    "部门": "department_id",
    "部门id": "department_id",
}
VALUE_ALIASES = {
    "gender": {"男": "male", "女": "female", "其他": "other", "未知": "unknown", "m": "male", "f": "female"},
    "lifecycle_stage": {
        "线索": "lead",
        "潜在客户": "prospect",
        "客户": "customer",
        "成交客户": "customer",
        "流失": "churned",
    },
}
TAG_SEPARATORS = (",", "，", ";", "；", "|", "、")


# --- reading rows ------------------------------------------------------------------------------


def map_headers(headers: list[str], custom_fields: Iterable) -> tuple[list[str | None], list[str]]:
    """The field of each column (None: ignored) and the headers that match nothing.

    A heading may be the API name, ``custom.<name>``, a usual Chinese heading
    (:data:`HEADER_ALIASES`), or the label the workbench shows in either language (``名称``,
    ``Phone``, a custom field's label): :mod:`crm_core.transfer.headers`. ``custom_fields`` are
    the custom field definitions (or just their names)."""
    known = set(CustomerSchema().fields) - {"id", "created_at", "updated_at", "custom"}
    definitions = [fd for fd in custom_fields if not isinstance(fd, str)]
    custom_names = {getattr(fd, "name", fd) for fd in custom_fields}
    labels = headers_.label_aliases(sorted(known))
    custom_labels = headers_.custom_aliases(definitions)
    fields, ignored = [], []
    for header in headers:
        key = header.strip().lstrip("\ufeff").rstrip("*").strip()
        norm = headers_.normalise(header)
        target = None
        if norm in IGNORED_ON_IMPORT:
            target = None
        elif norm in known:
            target = norm
        elif norm in HEADER_ALIASES:
            target = HEADER_ALIASES[norm]
        elif norm.startswith("custom.") and norm[7:] in custom_names:
            target = "custom." + norm[7:]
        elif norm in custom_names:
            target = "custom." + norm
        elif norm in labels:
            target = labels[norm]
        elif norm in custom_labels:
            target = custom_labels[norm]
        elif key:
            ignored.append(header)
        fields.append(target)
    if fields.count("name") != 1:
        message = _(
            "The file needs exactly one name column (a heading such as name, Name, 姓名 or 名称); "
            "its headings are: %(headings)s.",
            headings=", ".join(h for h in headers if h) or "-",
        )
        raise APIError(400, message, errors={"file": [message]})
    return fields, [h for h in ignored if h.lower() not in IGNORED_ON_IMPORT]


def _custom_value(text: str):
    if text[:1] == "[" and text[-1:] == "]":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def row_dict(fields: list[str | None], cells: list[str]) -> dict:
    """The API-shaped input of one row (blank cells left out)."""
    row: dict = {}
    for field, value in zip(fields, cells, strict=False):
        if field is None or value == "":
            continue
        if field.startswith("custom."):
            row.setdefault("custom", {})[field[7:]] = _custom_value(value)
            continue
        if field in VALUE_ALIASES:
            value = VALUE_ALIASES[field].get(
                value.strip().lower(), VALUE_ALIASES[field].get(value.strip(), value)
            )
        if field == "tags":
            for sep in TAG_SEPARATORS[1:]:
                value = value.replace(sep, ",")
            value = [t.strip() for t in value.split(",") if t.strip()]
        if field == "birthday":
            value = value.replace("/", "-")[:10]
        row[field] = value
    return row
