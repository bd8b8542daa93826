"""The monitor's signals in a real browser: Debian's Chromium driven by Playwright against the real app under
uvicorn (rules model, demo login, a copy of the demo plant on which the monitor ran once before the server started).

The quality engineer's widget shows an alert count and the scrap-spike signal; the inbox lists the signal with its
evidence and the monitor's pending hold request ("from signal SIG-…"); a response needs a reason (the buttons stay
disabled without one) and one she may not give is refused plainly; she overrides the recommendation — declining the
monitor's hold and asking to hold another lot instead — and the signal shows overridden; an auditor reads the
override with its reason in the audit viewer. Screenshots go to ``$JIDOKA_TEST_ARTIFACTS/browser`` (or tmp).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from server.settings import Settings
from tests.server.browser._live import (
    CHROMIUM,
    CHROMIUM_ARGS,
    artifacts_dir,
    demo_settings_env,
    live_server,
    require_browser,
)
from tests.server.browser.test_widget_e2e import UNLABELLED_CONTROLS, _sign_in
from tools import make_engine

pytestmark = pytest.mark.slow

REASON = "scrap is from the film supplier change, not this resin lot"


def _other_lot(home: Path, site: str, not_lot: str) -> str:
    """Another available lot at ``site`` (the override's "hold this one instead")."""
    engine = make_engine(f"sqlite:///{home / 'plant.db'}")
    try:
        with engine.connect() as conn:
            lot = conn.execute(text("SELECT lot_id FROM lots WHERE site_id = :site AND lot_id != :lot "
                                    "AND status = 'available' ORDER BY lot_id LIMIT 1"),
                               {"site": site, "lot": not_lot}).scalar_one()
    finally:
        engine.dispose()
    return str(lot)


def test_quality_engineer_overrides_a_signal_and_the_auditor_reads_why(
        demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    from server.app import create_app
    from server.runtime import build_runtime

    artifacts = artifacts_dir(tmp_path)
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    env = demo_settings_env(demo_home, tmp_path / "home") | {"JIDOKA_MONITOR_INTERVAL_S": "0"}
    settings = Settings.from_env(env)
    runtime = build_runtime(settings)
    try:
        assert runtime.monitor is not None
        summary = runtime.monitor.run()
        signals = [runtime.monitor.store.get(s) for s in summary.opened]
    finally:
        runtime.close()
    spike = next(s for s in signals if s.detector == "scrap_spike" and s.figures.get("lot_id") == lot)
    watched = next(s for s in signals if s.site_id == spike.site_id and s.detector == "parameter_drift")
    (recommendation,) = spike.requests
    other_lot = _other_lot(tmp_path / "home", spike.site_id, lot)

    with live_server(create_app(settings)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # --- the widget: an alert count on the bubble, the signal in the panel's list
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/")
            _sign_in(page, "quinn.quality")
            count = page.locator(".jd-alert-count")
            expect(count).to_be_visible()
            assert int(count.inner_text()) >= 2
            bubble = page.get_by_role("button", name="Ask jidoka", exact=True)
            expect(bubble).to_have_accessible_description(re.compile(r"\d+ signals need your attention"))
            bubble.click()
            alerts = page.locator(".jd-alerts")
            expect(alerts).to_be_visible()
            alerts.locator("summary").click()
            item = alerts.locator(f"li[data-signal='{spike.signal_id}']")
            expect(item).to_contain_text(lot)
            expect(item.get_by_role("link")).to_have_attribute("href", re.compile(f"/inbox#signal-{spike.signal_id}$"))
            assert page.evaluate(UNLABELLED_CONTROLS, page.locator("body").element_handle()) == []
            page.screenshot(path=str(artifacts / "signals-1-widget-alerts.png"))

            # --- the inbox: the signal with its evidence and the monitor's pending hold, linked both ways
            item.get_by_role("link").click()
            expect(page).to_have_url(re.compile("/inbox"))
            card = page.locator(f"#signals article[data-signal='{spike.signal_id}']")
            expect(card).to_be_visible()
            expect(card).to_contain_text(lot)
            card.locator(".figures summary").click()
            expect(card.get_by_role("table")).to_contain_text("scrap_rate")
            expect(card.get_by_role("list", name="Evidence records")).to_contain_text(spike.record_ids[-1])
            proposal = card.locator(f"li[data-request='{recommendation}']")
            expect(proposal).to_contain_text("place_quality_hold")
            expect(proposal.locator(".badge")).to_have_text("pending")
            request = page.locator(f"#pending article[data-request='{recommendation}']")
            expect(request).to_contain_text(f"from signal {spike.signal_id}")
            expect(request).to_contain_text(f"monitor:quality_engineer@{spike.site_id}")
            assert page.evaluate(UNLABELLED_CONTROLS, page.locator("body").element_handle()) == []
            page.screenshot(path=str(artifacts / "signals-2-inbox.png"), full_page=True)

            # --- no reason, no response; a signal she only watches refuses her plainly (403, audited)
            override = card.get_by_role("button", name="Override")
            expect(override).to_be_disabled()
            other = page.locator(f"#signals article[data-signal='{watched.signal_id}']")
            other.get_by_label("Reason").fill("looked at it")
            other.get_by_role("button", name="Acknowledge").click()
            expect(other.get_by_role("alert")).to_contain_text("Not allowed")
            expect(page.locator("#status")).to_contain_text("holds none of those roles")

            # --- the override: decline the monitor's hold, hold another lot instead
            card.get_by_label("Reason").fill(REASON)
            expect(override).to_be_enabled()
            card.locator(".override-options summary").click()
            card.get_by_label("Instead of the recommendation").select_option("hold")
            card.get_by_label("Lot to hold instead").fill(other_lot)
            page.screenshot(path=str(artifacts / "signals-3-override-form.png"), full_page=True)
            override.click()
            expect(page.locator("#status")).to_contain_text(f"You overrode {spike.signal_id}; it is now overridden")
            expect(page.locator("#status")).to_contain_text(f"Declined {recommendation}")
            card = page.locator(f"#signals article[data-signal='{spike.signal_id}']")
            expect(card).to_have_attribute("data-status", "overridden")
            expect(card.locator("h3 .badge[data-status]")).to_have_text("overridden")
            expect(card.locator(".responses")).to_contain_text("quinn.quality overrode the recommendation")
            expect(card.locator(".responses")).to_contain_text(REASON)
            expect(card.locator(f"li[data-request='{recommendation}'] .badge")).to_have_text("rejected")
            expect(page.locator(f"#pending article[data-request='{recommendation}']")).to_have_count(0)
            mine = page.locator("#mine article").filter(has_text=other_lot)
            expect(mine).to_contain_text(f"from signal {spike.signal_id}")
            page.screenshot(path=str(artifacts / "signals-4-overridden.png"), full_page=True)

            # --- the auditor: the override, its reason and the recommendation it declined
            auditor = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            auditor.set_default_timeout(15_000)
            auditor.goto(f"{base}/audit")
            _sign_in(auditor, "ada.auditor")
            auditor.locator("#recent button", has_text="signal override").first.click()
            timeline = auditor.get_by_role("list", name="Events of the trace")
            event = timeline.locator("li[data-kind='signal_response']")
            expect(event).to_have_count(1)
            expect(event).to_contain_text("Override")
            expect(event).to_contain_text(spike.signal_id)
            expect(event).to_contain_text(REASON)
            expect(event).to_contain_text(f"Declined: {recommendation}")
            expect(event).to_contain_text(f"Recommendation requests: {recommendation}")
            auditor.screenshot(path=str(artifacts / "signals-5-audit-override.png"), full_page=True)
            auditor.locator("#recent button", has_text="monitor run").first.click()
            expect(timeline.locator("li[data-kind='monitor_run']")).to_contain_text("Monitor run completed")
            expect(timeline.locator("li[data-kind='signal']").first).to_contain_text("Signal opened")
        finally:
            browser.close()
