"""No English on a zh-CN page: crawl the workbench as an admin in Chinese and fail on any English
msgid of a loaded catalogue (the core's and every plugin's) that shows up untranslated.

The instance holds data in every core collection (the zh-CN demo, plus a custom field, a custom
object type with a record, a segment, an automation and a webhook). From the dashboard the crawl
follows every link to a GET page of the site (list, detail, new, edit, admin pages), visits a
missing page and posts a form with bad input. Visible text is the page's text nodes outside
``<script>``, ``<style>`` and ``<code>`` (identifiers are shown as code on purpose), plus the
``placeholder``, ``title`` and ``alt`` attributes and button values. A msgid is reported when
its English appears there as whole words.
"""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po

from crm_core.browser_testing import post_form, web_login

#: too generic to be English text (brand names, abbreviations, what Chinese pages write as is)
IGNORED = {"CRM", "ID", "OK", "Email", "E-mail", "Webhook", "OAuth", "KOL", "SLA", "UTC", "CSV", "XLSX"}
IGNORED |= {"JSON", "API", "URL", "UTF-8", "ETag", "ROI", "ROAS", "QR", "UTM", "VIP", "Big5", "Shift_JIS"}
IGNORED |= {"Webhooks"}  # "Standard Webhooks", the signing scheme's name, stays in Chinese text
#: links that are not pages (files, downloads) or end the session
SKIPPED = ("/static/", "/logout", "/export", "/file", "/download", "/api/", "/oauth/", ".png", ".svg", ".csv")
MAX_PAGES = 400
PER_ROUTE = 2  # a second record of the same page finds what the first's data does not show
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
_WORDS = re.compile(r"[A-Za-z]{3,}")


class _Visible(HTMLParser):
    """The text a reader sees, and the page's links."""

    #: not text to read: code, and a form's current values (a textarea holds data being edited)
    HIDDEN = {"script", "style", "code", "pre", "template", "noscript", "textarea"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0
        self._open: list[bool] = []  # per open element: does it hide its content?

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # translate="no" (HTML's own marker) holds data or identifiers shown as they are
        hides = tag in self.HIDDEN or attrs.get("translate") == "no"
        if tag not in self.VOID:
            self._open.append(hides)
            self._hidden += hides
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for name in ("placeholder", "title", "alt", "data-confirm"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._hidden -= self._open.pop()

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data)


def visible(html: str) -> tuple[str, list[str]]:
    """``(visible text, hrefs)`` of a page."""
    parser = _Visible()
    parser.feed(html)
    return " \n ".join(parser.parts), parser.links


def catalogue_probes(app) -> list[tuple[str, str, str]]:
    """``(package, msgid, probe)`` for every translated msgid of every loaded catalogue; the probe
    is the English to look for (a placeholder msgid's longest literal part)."""
    probes = []
    for folder in app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";"):
        package = Path(folder).parent.name
        for po in Path(folder).glob("*/LC_MESSAGES/messages.po"):
            with po.open("rb") as f:
                catalog = read_po(f)
            for message in catalog:
                msgid = message.id if isinstance(message.id, str) else (message.id or ("",))[0]
                string = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
                if not msgid or not string or string == msgid or msgid in IGNORED:
                    continue
                probe = max((p.strip(" .:,;") for p in _PLACEHOLDER.split(msgid)), key=len)
                if _PLACEHOLDER.search(msgid) and len(probe.split()) < 3:
                    continue  # "No %(what)s %(id)s.": too little left to recognise
                if len(probe) < 4 or not _WORDS.search(probe) or probe in IGNORED:
                    continue
                if re.fullmatch(r"[a-z_]+", probe) and "_" in probe:
                    continue  # an identifier, not a word
                probes.append((package, msgid, probe))
    return probes


def untranslated(text: str, probes) -> list[tuple[str, str]]:
    """``(package, "msgid" in «where it was seen»)`` of every probe found in ``text`` as words."""
    found = []
    for package, msgid, probe in probes:
        # whole words, and not part of a dotted code such as customer.created
        match = probe in text and re.search(rf"(?<![\w.-]){re.escape(probe)}(?![\w-]|\.[\w*])", text)
        if match:
            around = " ".join(text[max(0, match.start() - 30) : match.end() + 30].split())
            found.append((package, f"{msgid!r} in «{around}»"))
    return found


def _route_key(app, path: str):
    """The page a path shows: its endpoint and its non-id arguments (one resource's list is
    another page than another's, one record's detail the same page as another's)."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, args = adapter.match(urlsplit(path).path, method="GET")
    except Exception:
        return None, None
    fixed = tuple(sorted((k, v) for k, v in args.items() if not isinstance(v, int) and not str(v).isdigit()))
    return endpoint, (endpoint, fixed)


def crawl(app, client, start=("/",)) -> dict[str, list[tuple[str, str]]]:
    """``{page path (endpoint): [(package, msgid)]}`` for every page reachable from ``start``."""
    probes = catalogue_probes(app)
    seen_routes: dict = {}
    queue, queued = deque(start), set(start)
    findings: dict[str, list[tuple[str, str]]] = {}
    visited = 0
    while queue and visited < MAX_PAGES:
        path = queue.popleft()
        endpoint, key = _route_key(app, path)
        if endpoint is None or seen_routes.get(key, 0) >= PER_ROUTE:
            continue
        seen_routes[key] = seen_routes.get(key, 0) + 1
        response = client.get(path)
        visited += 1
        if response.mimetype != "text/html":
            continue
        assert response.status_code < 500, f"{path} answered {response.status_code}"
        text, links = visible(response.get_data(as_text=True))
        found = untranslated(text, probes)
        if found:
            findings[f"{path} ({endpoint})"] = found
        for href in links:
            target = urljoin(path, href)
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "localhost":
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if not local.startswith("/") or any(s in local for s in SKIPPED) or local in queued:
                continue
            queued.add(local)
            queue.append(local)
    assert visited > 20, f"the crawl reached only {visited} pages"
    return findings


@pytest.fixture
def app_config(app_config):
    """A webhook to a local receiver (never called: the crawl only reads pages)."""
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


@pytest.fixture
def zh_admin(app, client, make_user, db_url):
    """An admin in zh-CN on an instance with data in every core collection."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the crawl checks texts; one database is enough")
    from crm_core.demo.customers import seed

    _user, h = make_user("crawler", roles=("admin",))
    run = seed(30, locale="zh_CN", password="Demo-Passw0rd")
    assert "core.demo" in run.plugins, run.failures  # a plugin's failing demo is its own test's
    api = app.test_client()
    steps = [
        (
            "/api/v1/fields/customers",
            {"name": "credit_score", "type": "int", "label": {"en": "Credit score", "zh-CN": "信用评分"}},
        ),
        ("/api/v1/objects", {"name": "course", "label": {"en": "Course", "zh-CN": "课程"}}),
        (
            "/api/v1/fields/objects.course",
            {"name": "hours", "type": "int", "label": {"en": "Hours", "zh-CN": "课时"}},
        ),
        ("/api/v1/objects/course", {"name": "插花入门", "custom": {"hours": 12}}),
        ("/api/v1/segments", {"name": "高价值客户", "filters": {"lifecycle_stage": "vip"}}),
        ("/api/v1/webhooks", {"url": "http://127.0.0.1:9/crm-hook", "events": ["customer.created"]}),
        (
            "/api/v1/automations",
            {
                "name": "新客户打标签",
                "trigger": "customer.created",
                "actions": [{"type": "add_tag", "params": {"tag": "新客"}}],
            },
        ),
    ]
    for path, body in steps:
        r = api.post(path, json=body, headers=h)
        assert r.status_code in (200, 201), (path, r.get_json())
    web_login(client, "crawler")
    post_form(client, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    return h


def _core(page: str) -> bool:
    endpoint = page.rsplit("(", 1)[-1].rstrip(")")
    return endpoint.startswith("web.")


def _report(findings) -> str:
    return "\n".join(
        f"{page}: {', '.join(repr(m) for _p, m in items)}" for page, items in sorted(findings.items())
    )


def test_core_pages_show_no_untranslated_string(app, client, zh_admin):
    findings = crawl(app, client)
    # pages that are only reached by a form or by typing
    for path in ("/no-such-page", "/records/customers/?sort=-created_at", "/account/password"):
        text, _links = visible(client.get(path).get_data(as_text=True))
        if found := untranslated(text, catalogue_probes(app)):
            findings[f"{path} (web.extra)"] = found
    bad_posts = [
        ("/records/customers/new", {"name": "", "phone": "12", "email": "nope"}),
        ("/records/deals/new", {"title": "", "amount": "很多", "expected_close_date": "明天"}),
        ("/records/tickets/new", {"title": "", "priority": "nope"}),
        ("/admin/users", {"username": "", "password": "short"}),
        ("/admin/fields?entity=customers", {"entity": "customers", "name": "Bad Name!", "type": "int"}),
    ]
    for path, data in bad_posts:
        r = post_form(client, path, data)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        text, _links = visible(r.get_data(as_text=True))
        if found := untranslated(text, catalogue_probes(app)):
            findings[f"POST {path} (web.bad-input)"] = found
    core = {page: items for page, items in findings.items() if _core(page)}
    assert not core, "English on zh-CN core pages:\n" + _report(core)


def test_plugin_pages_show_no_untranslated_string(app, client, zh_admin):
    findings = crawl(app, client)
    plugins = {page: items for page, items in findings.items() if not _core(page)}
    assert not plugins, "English on zh-CN plugin pages:\n" + _report(plugins)
