"""Channel classification: which channel group a touchpoint belongs to.

Rules, first match wins (modelled on GA4's default channel grouping, with the groups Chinese
social commerce needs: KOL, live stream, offline event):

1. ``utm_medium`` names a group (``cpc`` -> paid search, ``kol`` -> KOL, ``live`` -> live stream,
   ``qr``/``offline`` -> offline event, ``email``, ``social``, ``referral``...). A paid medium from a
   social source is paid social.
2. Only ``utm_source`` is given: a known search engine -> organic search, a social site -> social,
   anything else -> other.
3. No UTM but an ad click id: ``gclid``/``gbraid``/``wbraid``/``dclid``/``msclkid`` -> paid search;
   ``ttclid``/``twclid``/``li_fat_id`` -> paid social; ``fbclid``/``igshid`` (added to organic
   shares too) -> social.
4. No UTM and no click id: derived from the referrer: none -> direct; one of the site's own
   hosts -> direct (a self-referral starts no new acquisition); a search engine -> organic search;
   a social site -> social; any other host -> referral.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

GROUPS = (
    "direct",
    "organic_search",
    "paid_search",
    "social",
    "paid_social",
    "kol",
    "live_stream",
    "offline_event",
    "email",
    "sms",
    "display",
    "affiliate",
    "referral",
    "other",
)

CLICK_ID_PARAMS = (
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "gclsrc",
    "msclkid",
    "fbclid",
    "ttclid",
    "twclid",
    "li_fat_id",
    "igshid",
    "rdt_cid",
    "mc_cid",
)

_PAID_SEARCH_CLICK_IDS = ("gclid", "gbraid", "wbraid", "dclid", "msclkid")
_PAID_SOCIAL_CLICK_IDS = ("ttclid", "twclid", "li_fat_id", "rdt_cid")
_SOCIAL_CLICK_IDS = ("fbclid", "igshid")

SEARCH_ENGINES = (
    "google",
    "bing",
    "baidu",
    "yahoo",
    "duckduckgo",
    "yandex",
    "sogou",
    "so.com",
    "sm.cn",
    "naver",
    "ecosia",
    "seznam",
    "startpage",
)
SOCIAL_SITES = (
    "facebook",
    "fb.com",
    "instagram",
    "t.co",
    "twitter",
    "x.com",
    "linkedin",
    "lnkd.in",
    "weibo",
    "douyin",
    "tiktok",
    "xiaohongshu",
    "xhslink",
    "kuaishou",
    "bilibili",
    "zhihu",
    "weixin",
    "wechat",
    "qq.com",
    "youtube",
    "youtu.be",
    "reddit",
    "pinterest",
    "threads.net",
    "line.me",
    "vk.com",
)

_MEDIUM_GROUPS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^(kol|influencer.*|creator|koc|达人|网红)$"), "kol"),
    (re.compile(r"^(live|livestream|live[_-]?stream|直播)$"), "live_stream"),
    (re.compile(r"^(offline|qr|qrcode|qr[_-]code|event|print|poster|flyer|线下)$"), "offline_event"),
    (re.compile(r"^(e[-_ ]?mail|newsletter)$"), "email"),
    (re.compile(r"^(sms|text)$"), "sms"),
    (re.compile(r"^(display|banner|expandable|interstitial|cpm)$"), "display"),
    (re.compile(r"^affiliate.*$"), "affiliate"),
    (re.compile(r"^referral$"), "referral"),
    (re.compile(r"^organic$"), "organic_search"),
    (re.compile(r"^(social|social[-_ ]?network|social[-_ ]?media|sm|social[-_ ]?post)$"), "social"),
    (re.compile(r"^(paid[-_ ]?social)$"), "paid_social"),
    (re.compile(r"^(.*cp.*|ppc|sem|retargeting|paid.*)$"), "paid_search"),
]


@lru_cache(maxsize=4096)
def host_of(url: str | None) -> str:
    """The lower-case host of ``url`` without ``www.`` (empty when there is none)."""
    if not url:
        return ""
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _matches(host_or_source: str, names: tuple[str, ...]) -> bool:
    """True when a host or a utm_source names one of ``names`` (``google``, ``news.google.com``,
    ``m.baidu.com``), matching whole dot-separated labels, never substrings (``notgoogle.com``)."""
    value = host_or_source.lower()
    labels = value.split(".")
    for name in names:
        if "." in name:
            if value == name or value.endswith("." + name):
                return True
        elif name in labels:
            return True
    return False


def is_search(value: str) -> bool:
    """True when a host or source is a known search engine."""
    return _matches(value, SEARCH_ENGINES)


def is_social(value: str) -> bool:
    """True when a host or source is a known social site."""
    return _matches(value, SOCIAL_SITES)


def classify(
    utm_source: str | None = None,
    utm_medium: str | None = None,
    referrer: str | None = None,
    click_ids: dict | None = None,
    own_hosts: tuple[str, ...] = (),
) -> str:
    """The channel group of one touchpoint (one of ``GROUPS``); see the module docstring."""
    source = (utm_source or "").strip().lower()
    medium = (utm_medium or "").strip().lower()
    if medium:
        for pattern, group in _MEDIUM_GROUPS:
            if pattern.match(medium):
                if group == "paid_search" and is_social(source):
                    return "paid_social"
                return group
    if source:
        if is_search(source):
            return "organic_search"
        if is_social(source):
            return "social"
        return "other"
    present = {k for k, v in (click_ids or {}).items() if v}
    if present & set(_PAID_SEARCH_CLICK_IDS):
        return "paid_search"
    if present & set(_PAID_SOCIAL_CLICK_IDS):
        return "paid_social"
    if present & set(_SOCIAL_CLICK_IDS):
        return "social"
    host = host_of(referrer)
    if not host:
        return "direct"
    if any(host == h or host.endswith("." + h) for h in own_hosts if h):
        return "direct"
    if is_search(host):
        return "organic_search"
    if is_social(host):
        return "social"
    return "referral"


@lru_cache(maxsize=8192)
def classify_cached(
    utm_source: str | None,
    utm_medium: str | None,
    referrer_host: str,
    click_id_names: frozenset,
    own_hosts: tuple[str, ...] = (),
) -> str:
    """:func:`classify` on hashable inputs, memoised: ingestion sees the same few sources,
    mediums and referrer hosts over and over."""
    return classify(utm_source, utm_medium, referrer_host, dict.fromkeys(click_id_names, "1"), own_hosts)
