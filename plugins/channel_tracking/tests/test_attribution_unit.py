"""Attribution models against hand-computed tables, and properties every model must keep."""

import datetime as dt

import pytest
from crm_channel_tracking.attribution import MODELS, Touch, attribute
from hypothesis import given, settings
from hypothesis import strategies as st

CONV = dt.datetime(2026, 3, 31, 12, 0)


def days_before(days, channel, id_=0):
    return Touch(at=CONV - dt.timedelta(days=days), channel=channel, id=id_)


def credits(touches, model, **kw):
    return [round(c.credit, 4) for c in attribute(touches, CONV, model, **kw)]


# path: organic search 10 days before, KOL 5 days before, direct 1 day before the conversion
THREE = [days_before(10, "organic_search", 1), days_before(5, "kol", 2), days_before(1, "direct", 3)]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first_touch", [1, 0, 0]),
        ("last_touch", [0, 0, 1]),
        ("last_non_direct", [0, 1, 0]),  # the direct visit is skipped: the KOL touch gets it
        ("linear", [0.3333, 0.3333, 0.3333]),
        ("position_based", [0.4, 0.2, 0.4]),
        # 2^(-10/7), 2^(-5/7), 2^(-1/7) = 0.3715, 0.6095, 0.9057; normalised by their sum 1.8867
        ("time_decay", [0.1969, 0.3230, 0.4800]),
    ],
)
def test_three_touch_path(model, expected):
    assert credits(THREE, model) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("model", MODELS)
def test_single_touch_gets_everything(model):
    assert credits([days_before(3, "social")], model) == [1.0]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("position_based", [0.5, 0.5]),
        ("linear", [0.5, 0.5]),
        # 3.5 days = half a half-life: weights 2^-0.5 and 1
        ("time_decay", [0.4142, 0.5858]),
    ],
)
def test_two_touch_path(model, expected):
    touches = [days_before(3.5, "social", 1), days_before(0, "email", 2)]
    assert credits(touches, model) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (4, [0.4, 0.1, 0.1, 0.4]),
        (5, [0.4, 0.0667, 0.0667, 0.0667, 0.4]),
        (6, [0.4, 0.05, 0.05, 0.05, 0.05, 0.4]),
    ],
)
def test_position_based_middle_shares_twenty_percent(n, expected):
    touches = [days_before(n - i, "social", i) for i in range(n)]
    assert credits(touches, "position_based") == pytest.approx(expected, abs=1e-4)


def test_time_decay_reference_example():
    # the Google example: touches 28, 14, 7 and 0 days before: 3.4%, 13.8%, 27.6%, 55.2%
    touches = [days_before(d, "social", i) for i, d in enumerate([28, 14, 7, 0])]
    assert credits(touches, "time_decay") == pytest.approx([0.0345, 0.1379, 0.2759, 0.5517], abs=1e-4)


def test_time_decay_half_life_is_configurable():
    touches = [days_before(1, "social", 1), days_before(0, "email", 2)]
    # half-life 1 day: weights 0.5 and 1
    assert credits(touches, "time_decay", half_life_days=1) == pytest.approx([0.3333, 0.6667], abs=1e-4)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("last_non_direct", [0, 0, 1]),  # all direct: direct keeps the credit, on the last touch
        ("last_touch", [0, 0, 1]),
        ("first_touch", [1, 0, 0]),
    ],
)
def test_direct_only_journey(model, expected):
    touches = [days_before(d, "direct", i) for i, d in enumerate([9, 4, 2])]
    assert credits(touches, model) == expected


def test_last_non_direct_skips_trailing_directs_only():
    touches = [
        days_before(9, "paid_search", 1),
        days_before(6, "kol", 2),
        days_before(3, "direct", 3),
        days_before(1, "direct", 4),
    ]
    assert credits(touches, "last_non_direct") == [0, 1, 0, 0]


@pytest.mark.parametrize(
    ("offsets", "kept"),
    [
        ([31, 10], [10]),  # 31 days before: outside the 30-day window
        ([30, 10], [30, 10]),  # exactly 30 days: inside (the window includes its start)
        ([-1, 10], [10]),  # after the conversion: never part of its path
        ([45, 40], []),  # nothing in the window: unattributed
    ],
)
def test_lookback_window(offsets, kept):
    touches = [days_before(d, "social", i) for i, d in enumerate(offsets)]
    got = attribute(touches, CONV, "linear")
    assert [round((CONV - c.touch.at).days) for c in got] == kept
    assert sum(c.credit for c in got) == pytest.approx(1.0 if kept else 0.0)


def test_lookback_is_configurable():
    touches = [days_before(8, "social", 1), days_before(2, "email", 2)]
    assert [c.touch.channel for c in attribute(touches, CONV, "first_touch", lookback_days=7)] == ["email"]


def test_ties_are_ordered_by_id():
    at = CONV - dt.timedelta(days=2)
    touches = [Touch(at, "kol", id=7), Touch(at, "social", id=3)]
    assert [c.touch.channel for c in attribute(touches, CONV, "first_touch") if c.credit] == ["social"]
    assert [c.touch.channel for c in attribute(touches, CONV, "last_touch") if c.credit] == ["kol"]
    # same instant: time decay weighs them equally
    assert credits(touches, "time_decay") == [0.5, 0.5]


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown attribution model"):
        attribute(THREE, CONV, "shapley")


touch_lists = st.lists(
    st.builds(
        Touch,
        at=st.integers(min_value=-40 * 86400, max_value=86400).map(lambda s: CONV - dt.timedelta(seconds=s)),
        channel=st.sampled_from(["direct", "social", "kol", "paid_search"]),
        id=st.integers(min_value=0, max_value=50),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(
    touches=touch_lists,
    model=st.sampled_from(MODELS),
    lookback=st.integers(min_value=1, max_value=60),
    half_life=st.floats(min_value=0.1, max_value=30),
)
def test_credits_sum_to_one_and_are_never_negative(touches, model, lookback, half_life):
    got = attribute(touches, CONV, model, lookback_days=lookback, half_life_days=half_life)
    in_window = [t for t in touches if CONV - dt.timedelta(days=lookback) <= t.at <= CONV]
    assert len(got) == len(in_window)
    assert all(c.credit >= 0 for c in got)
    if got:
        assert sum(c.credit for c in got) == pytest.approx(1.0)
    if model == "last_non_direct" and any(t.channel != "direct" for t in in_window):
        assert next(c for c in got if c.credit).touch.channel != "direct"
