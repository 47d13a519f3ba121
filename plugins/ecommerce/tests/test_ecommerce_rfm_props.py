"""Properties of the RFM banding and of the tag rules' conditions (no app, no database)."""

from __future__ import annotations

import bisect
from decimal import Decimal

import pytest
from crm_ecommerce import portraits, rfm
from hypothesis import given
from hypothesis import strategies as st

bands = st.lists(st.integers(min_value=0, max_value=5000), min_size=4, max_size=4, unique=True).map(
    lambda values: tuple(Decimal(v) for v in sorted(values))
)
amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)


@given(bands, st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_recency_is_5_to_1_by_band_and_never_rises_with_age(limits, days, older):
    score = rfm.recency_score(days, limits)
    assert score == 5 - min(4, bisect.bisect_left(limits, days))
    assert 1 <= score <= 5
    assert rfm.recency_score(days + older, limits) <= score
    assert rfm.recency_score(None, limits) == 0


@given(bands, amounts, amounts)
def test_rising_scores_count_the_thresholds_reached(limits, value, more):
    score = rfm.rising_score(value, limits)
    if value <= 0:
        assert score == 0
        return
    assert score == 1 + bisect.bisect_right(limits, value)
    assert 1 <= score <= 5
    assert rfm.rising_score(value + more, limits) >= score
    # exactly on a threshold reaches it
    for i, limit in enumerate(limits):
        if limit > 0:
            assert rfm.rising_score(limit, limits) == 2 + i


@given(bands)
def test_bands_parse_back_and_refuse_disorder(limits):
    text = ",".join(str(v) for v in limits)
    assert rfm.parse_bands(text) == limits
    with pytest.raises(ValueError, match="ascend"):
        rfm.parse_bands(",".join(str(v) for v in reversed(limits)), "ECOMMERCE_RFM_MONETARY")


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "1,2,3,-4", "5,5,6,7"])
def test_malformed_bands_name_the_setting(text):
    with pytest.raises(ValueError, match="ECOMMERCE_RFM_FREQUENCY"):
        rfm.parse_bands(text, "ECOMMERCE_RFM_FREQUENCY")


@given(st.sampled_from(portraits.OPS[portraits.NUMBER]), amounts, amounts)
def test_number_conditions_compare_as_decimals(op, fact, value):
    expected = {
        ">=": fact >= value,
        ">": fact > value,
        "<=": fact <= value,
        "<": fact < value,
        "=": fact == value,
        "!=": fact != value,
    }[op]
    condition = {"field": "total_spent", "op": op, "value": str(value)}
    assert portraits.holds(condition, {"total_spent": fact}) is expected
    assert portraits.holds(condition, {"total_spent": None}) is False  # a missing fact never holds
    assert portraits.matches([], {"total_spent": fact}) is False  # no conditions: nobody
