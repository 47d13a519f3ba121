"""Known answers for the audit chain's hashes: an entry sealed today must verify with every later
version of the code, so what the hash covers and how (canonical JSON, leaf digests, the payload)
may never change by accident. These values were computed by the code that sealed real chains."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_core.audit import hashing
from crm_core.audit.models import AuditEntry

KEY = b"\x01" * 32
PREV = "cd" * 32


def _row(version):
    before = {
        "name": "旧名",
        "tags": ["a", "b"],
        "custom": {"wechat": "wx_1", "score": 3.5, "vip": True, "note": None},
    }
    after = {
        "name": '新名 "quoted"\n',
        "tags": [],
        "custom": {"wechat": {"$redacted": "ab" * 32}, "score": 10, "big": 12345678901234567890},
        "phone": "+8613900001234",
    }
    return AuditEntry(
        kind="write",
        resource="customers",
        record_id="42",
        action="update",
        actor_id=7,
        actor_name="管理员",
        client_id=None,
        owner_id=3,
        department_id=2,
        before=hashing.canonical(before),
        after=hashing.canonical(after),
        request_id="req-1",
        ip="10.0.0.1",
        occurred_at=dt.datetime(2026, 12, 4, 2, 10, 0, 123456),
        hash_version=version,
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (2, "8a44e9b72be361e991203765b5b476b841aedaec4773c76a5a08138572b47c0b"),  # leaf digests
        (None, "ea688d6422a8dad2d2889ab16f59807bfdbd9dd9a151e757209c4b3d570a92f4"),  # texts as stored
    ],
)
def test_an_entry_hashes_as_it_always_has(version, expected):
    assert hashing.entry_hash(_row(version), 17, PREV, KEY) == expected


def test_a_legacy_entry_hashes_as_it_always_has():
    expected = "13684872f24e1d5ec0f405318f5e5c501632f96f0b65d9c9dd91b7f29ae2b80e"
    assert hashing.legacy_hash(_row(None), 17, PREV) == expected


def test_the_canonical_text_is_unchanged():
    text = hashing.canonical({"b": 1, "a": [1.5, None, "é"], "d": dt.date(2026, 1, 2)})
    assert text == '{"a":[1.5,null,"é"],"b":1,"d":"2026-01-02"}'
