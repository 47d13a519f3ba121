"""The channel tracking screens in a real browser, in Chinese and English, as an admin and as an
analyst who may only read: campaign page with its QR codes loaded, a link created from the page,
the funnel chart, the attribution model switch and the ROI charts."""

from __future__ import annotations

import pytest

LANGUAGES = [("zh-CN", "zh"), ("en-US", "en")]
TEXT = {
    "zh": {"campaigns": "渠道活动", "linear": "线性", "roi": "渠道与达人 ROI", "kol": "达人/KOL"},
    "en": {
        "campaigns": "Campaigns",
        "linear": "Linear",
        "roi": "Channel & KOL ROI",
        "kol": "KOL / influencer",
    },
}


def _charts_drawn(page, selector="canvas[data-ct-chart]"):
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].length > 0 && "
        "[...document.querySelectorAll(sel)].every(c => c.dataset.ctDrawn !== undefined)",
        arg=selector,
    )


def _qr_loaded(page) -> list[int]:
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.ct-qr')].length > 0 && "
        "[...document.querySelectorAll('img.ct-qr')].every(i => i.complete)"
    )
    return page.eval_on_selector_all("img.ct-qr", "imgs => imgs.map(i => i.naturalWidth)")


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_campaign_page_shows_qr_codes_and_creates_a_link(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.click(f".crm-menu >> text={TEXT[lang]['campaigns']}")
    page.wait_for_selector("#campaigns")
    shot(page, f"channel-campaigns-{lang}")
    page.click("#campaigns tbody tr:first-child td:first-child a")
    page.wait_for_selector("#kpis")
    widths = _qr_loaded(page)
    assert widths and all(w > 0 for w in widths), widths
    before = len(widths)
    # the destination is prefilled with the CRM's own address: a fresh install needs no setting
    assert page.input_value("input[name=target_url]") == ct_server["url"] + "/"
    page.fill("input[name=target_url]", ct_server["url"] + "/shop/new-" + lang)
    page.click("#create-link")
    page.wait_for_selector(".crm-flash-success")
    widths = _qr_loaded(page)
    assert len(widths) == before + 1 and all(w > 0 for w in widths)
    _charts_drawn(page, "#spend-chart")
    png = page.get_attribute(".ct-link >> nth=0 >> a[data-download=png]", "href")
    response = page.request.get(ct_server["url"] + png)
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    shot(page, f"channel-campaign-detail-{lang}")


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_funnel_builder_draws_its_chart(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.goto(ct_server["url"] + "/channel-tracking/funnels")
    for step, event in enumerate(("link_click", "page_view", "signup", "order"), start=1):
        page.select_option(f"select[data-step='{step}']", event)
    page.fill("input[name=window]", "7")
    page.click("#build-funnel")
    page.wait_for_selector("#funnel-steps")
    _charts_drawn(page, "#funnel-chart")
    counts = [int(page.inner_text(f"[data-count='{i}']")) for i in range(1, 5)]
    assert counts[0] > 0 and counts == sorted(counts, reverse=True), counts
    assert "window=7" in page.url
    shot(page, f"channel-funnel-{lang}")


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_attribution_model_switch(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.goto(ct_server["url"] + "/channel-tracking/attribution")
    assert page.get_attribute("a[data-model=last_non_direct]", "aria-current") == "page"
    first = page.inner_text("#model-comparison")
    page.click("a[data-model=linear]")
    page.wait_for_url("**model=linear**")
    assert page.get_attribute("a[data-model=linear]", "aria-current") == "page"
    assert TEXT[lang]["linear"] in page.inner_text("#report-basis")
    assert page.get_attribute("#attribution-table", "data-model") == "linear"
    _charts_drawn(page, "#attribution-chart")
    assert page.inner_text("#model-comparison") == first  # every model side by side, whichever is chosen
    page.select_option("select[name=dimension]", "kol")
    page.wait_for_url("**dimension=kol**")
    assert "model=linear" in page.url
    shot(page, f"channel-attribution-{lang}")


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_roi_tables_and_charts(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.goto(ct_server["url"] + "/channel-tracking/roi")
    _charts_drawn(page)
    assert page.inner_text("h1") == TEXT[lang]["roi"]
    kol = page.inner_text("#roi-table-channel tr[data-key=kol]")
    assert TEXT[lang]["kol"] in kol and "%" in kol and "×" in kol
    assert page.locator("#roi-table-kol tbody tr").count() >= 3
    shot(page, f"channel-roi-{lang}")


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_analyst_reads_without_write_controls(open_as, ct_server, shot, locale, lang):
    page = open_as("analyst", locale)
    menu = page.inner_text(".crm-menu")
    assert TEXT[lang]["campaigns"] in menu and ("触点" if lang == "zh" else "Touchpoints") not in menu
    page.goto(ct_server["url"] + "/channel-tracking/campaigns")
    assert page.locator("#new-campaign").count() == 0
    page.click("#campaigns tbody tr:first-child td:first-child a")
    widths = _qr_loaded(page)
    assert widths and all(w > 0 for w in widths)
    assert page.locator("#link-form, #spend-form, #edit-campaign").count() == 0
    shot(page, f"channel-campaign-analyst-{lang}")
    response = page.goto(ct_server["url"] + "/channel-tracking/touchpoints")
    assert response.status == 403


def test_qr_image_needs_a_session(ct_browser, ct_server):
    context = ct_browser.new_context()
    try:
        response = context.request.get(ct_server["url"] + "/channel-tracking/links/1/qr.png", max_redirects=0)
        assert response.status == 302 and "/login" in response.headers["location"]
    finally:
        context.close()


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_campaign_form_refuses_bad_input_then_saves(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.goto(ct_server["url"] + "/channel-tracking/campaigns")
    page.click("#new-campaign")
    page.fill("input[name=name]", "Browser " + lang)
    page.fill("input[name=utm_campaign]", "browser-" + lang)
    page.fill("input[name=budget]", "lots")
    page.fill("input[name=new_channel_name]", "Browser channel " + lang)
    page.select_option("select[name=new_channel_group]", "kol")
    page.click("#save-campaign")
    page.wait_for_selector("#form-error")
    assert page.input_value("input[name=name]") == "Browser " + lang  # nothing typed is lost
    message = page.inner_text("[data-field=budget]")
    assert message == (
        "金额无效：请填写数字，例如 1200.50。"
        if lang == "zh"
        else "Not a valid amount: use digits like 1200.50."
    )
    shot(page, f"channel-campaign-form-errors-{lang}")
    page.fill("input[name=budget]", "6800")
    page.click("#save-campaign")
    page.wait_for_selector("#kpis")
    assert page.inner_text("#campaign-name") == "Browser " + lang
    assert page.inner_text("[data-kpi=budget]") == "6,800.00"


@pytest.mark.parametrize(("locale", "lang"), LANGUAGES)
def test_touchpoints_filters_and_chart(open_as, ct_server, shot, locale, lang):
    page = open_as("admin", locale)
    page.click(".crm-menu >> text=" + ("触点" if lang == "zh" else "Touchpoints"))
    page.wait_for_selector("#touchpoints")
    _charts_drawn(page, "#touchpoint-chart")
    page.select_option("#touchpoint-filters select[name=channel]", "kol")
    page.click("#touchpoint-filters button[type=submit]")
    page.wait_for_url("**channel=kol**")
    channels = page.eval_on_selector_all(
        "#touchpoints td[data-channel]", "tds => tds.map(t => t.dataset.channel)"
    )
    assert channels and set(channels) == {"kol"}
    assert page.inner_text("#touchpoints td[data-channel]") == TEXT[lang]["kol"]
    shot(page, f"channel-touchpoints-{lang}")
