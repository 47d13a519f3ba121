"""Property tests of the messaging logic that decides what is sent when: byte-aware splitting and
the rate-window wait (no database)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from crm_core.messaging.channels import render, split_utf8
from crm_core.messaging.sender import _window_wait

TEXT = st.text(alphabet=st.sampled_from(["a", "Z", " ", "\n", "订", "单", "é", "😀", "\u200d"]), max_size=400)
NOW = dt.datetime(2026, 1, 5, 9, 0, 0)


@given(TEXT, st.integers(min_value=4, max_value=300))
def test_split_keeps_every_character_and_each_part_fits(text, limit):
    parts = split_utf8(text, limit)
    assert "".join(parts) == text
    assert all(len(p.encode()) <= limit for p in parts)
    assert all(parts) or parts == [""]


@given(TEXT, st.integers(min_value=4, max_value=300))
def test_split_prefers_line_breaks(text, limit):
    parts = split_utf8(text, limit)
    for part in parts[:-1]:
        if "\n" in part[len(part) // 2 :] and not part.endswith("\n"):
            raise AssertionError(f"cut {part!r} not at its last line break")


def _fits(stamps, windows, needed, at):
    return all(
        sum(1 for s in stamps if s > at - dt.timedelta(seconds=secs)) + needed <= count
        for count, secs in windows
        if needed <= count
    )


WINDOWS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=25), st.sampled_from([1, 60, 3600])), min_size=1, max_size=3
)


@given(
    st.lists(st.integers(min_value=0, max_value=3599), max_size=60),
    WINDOWS,
    st.integers(min_value=1, max_value=5),
)
def test_window_wait_is_the_first_moment_it_fits(ages, windows, needed):
    stamps = [NOW - dt.timedelta(seconds=a) for a in ages]
    wait = _window_wait(stamps, windows, needed, NOW)
    assert wait >= dt.timedelta(0)
    assert _fits(stamps, windows, needed, NOW + wait)
    if wait > dt.timedelta(0):
        assert not _fits(stamps, windows, needed, NOW + wait - dt.timedelta(milliseconds=1))


@given(st.dictionaries(st.sampled_from(["name", "no", "amount"]), st.text(max_size=20)))
def test_render_fills_known_fields_and_refuses_missing_ones(variables):
    template = "{name}:{no}"
    if {"name", "no"} <= set(variables):
        assert render(template, variables) == f"{variables['name']}:{variables['no']}"
    else:
        try:
            render(template, variables)
        except ValueError:
            return
        raise AssertionError("a missing variable must be refused")


def test_render_refuses_fields_that_reach_beyond_the_variables():
    for template in ("{name.__class__}", "{0}", "{name!r}", "{name:>999999999}", "{name[0]}"):
        try:
            render(template, {"name": "x"})
        except ValueError:
            continue
        raise AssertionError(template)
