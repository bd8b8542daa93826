"""The inbox's Decided view in a real browser: Debian's Chromium driven by Playwright against the real app under
uvicorn (rules model, demo login, a copy of the demo plant).

A supervisor asks for a quality hold over the API; the quality engineer approves it in the inbox with a comment,
reaches the Decided tab with the keyboard (Tab to the selected tab, an arrow key to the next) and finds the request
there with its status, who decided it, when and the comment, linked to its detail, which opens the request's card;
a planner of the other site sees nothing of it in her Decided view. Screenshots go to
``$JIDOKA_TEST_ARTIFACTS/browser`` (or the test's tmp dir).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

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

pytestmark = pytest.mark.slow

COMMENT = "seal temperature drift confirmed on PK1"


def _request_hold(base: str, lot: str) -> str:
    """A hold asked for by sam.supervisor over the API (as the widget would); the pending request's id."""
    token = httpx.post(f"{base}/v1/demo/token", json={"user": "sam.supervisor"}).json()["token"]
    turn = httpx.post(f"{base}/v1/chat", json={"message": f"put lot {lot} on quality hold with its open work "
                                                          "orders, seal failures"},
                      headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}, timeout=60)
    assert turn.status_code == 200, turn.text
    body = turn.json()
    (request,) = body["approvals"]
    return str(request["id"])


def test_a_decision_shows_in_the_decided_tab(demo_home: Path, demo_manifest: dict[str, Any],
                                             tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    from server.app import create_app

    artifacts = artifacts_dir(tmp_path)
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    env = demo_settings_env(demo_home, tmp_path / "home") | {"JIDOKA_MONITOR_INTERVAL_S": "0"}
    settings = Settings.from_env(env)

    with live_server(create_app(settings)) as base, sync_playwright() as p:
        request_id = _request_hold(base, lot)
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/inbox")
            _sign_in(page, "quinn.quality")

            # --- the Open tab is selected; the Decided tab is labelled and out of the Tab order until chosen
            tablist = page.get_by_role("tablist", name="Inbox views")
            open_tab = tablist.get_by_role("tab", name="Open")
            decided_tab = tablist.get_by_role("tab", name="Decided")
            expect(open_tab).to_have_attribute("aria-selected", "true")
            expect(decided_tab).to_have_attribute("aria-selected", "false")
            expect(page.get_by_role("tabpanel", name="Decided")).to_be_hidden()

            # --- she approves the hold in the Open tab, with a comment
            pending = page.locator(f"#pending article[data-request='{request_id}']")
            pending.get_by_label("Comment").fill(COMMENT)
            pending.get_by_role("button", name="Approve").click()
            expect(page.locator("#status")).to_contain_text(f"You approved {request_id}")
            expect(page.locator(f"#pending article[data-request='{request_id}']")).to_have_count(0)

            # --- keyboard only: Tab from Refresh reaches the selected tab, the right arrow selects Decided
            page.get_by_role("button", name="Refresh").focus()
            page.keyboard.press("Tab")
            expect(open_tab).to_be_focused()
            page.keyboard.press("ArrowRight")
            expect(decided_tab).to_be_focused()
            expect(decided_tab).to_have_attribute("aria-selected", "true")
            panel = page.get_by_role("tabpanel", name="Decided")
            expect(panel).to_be_visible()
            expect(page.get_by_role("tabpanel", name="Open")).to_be_hidden()

            # --- the decided request: status, who decided, when, the comment, a link to its detail
            table = panel.get_by_role("table", name="Decided requests, newest first")
            row = table.locator(f"tr[data-request='{request_id}']")
            expect(row).to_have_count(1)
            expect(row.locator(".badge")).to_have_text("executed")
            expect(row).to_contain_text("place_quality_hold")
            expect(row).to_contain_text("quinn.quality (approved)")
            expect(row).to_contain_text(COMMENT)
            expect(row.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
            link = row.get_by_role("link", name=re.compile(f"{request_id}.*details"))
            expect(link).to_have_attribute("href", f"/inbox?request={request_id}")
            assert page.evaluate(UNLABELLED_CONTROLS, page.locator("body").element_handle()) == []
            page.screenshot(path=str(artifacts / "inbox-decided-1-tab.png"), full_page=True)

            # --- the filter: rejected requests only leaves it out; back to any status shows it again
            panel.get_by_label("Status").select_option("rejected")
            expect(table.locator(f"tr[data-request='{request_id}']")).to_have_count(0)
            panel.get_by_label("Status").select_option("decided")
            expect(panel.locator(f"tr[data-request='{request_id}']")).to_have_count(1)

            # --- the link opens the request's card
            panel.locator(f"tr[data-request='{request_id}']").get_by_role("link").click()
            expect(page).to_have_url(re.compile(rf"/inbox\?request={request_id}$"))
            detail = page.get_by_role("region", name="Request details", exact=True)
            card = detail.locator(f"article[data-request='{request_id}']")
            expect(card).to_be_visible()
            expect(card.locator("h3 .badge")).to_have_text("executed")
            expect(card).to_contain_text(COMMENT)
            expect(card.get_by_role("button", name="Approve")).to_have_count(0)  # decided: nothing to decide
            page.screenshot(path=str(artifacts / "inbox-decided-2-detail.png"), full_page=True)

            # --- a planner of the other site sees nothing of it
            other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            other.set_default_timeout(15_000)
            other.goto(f"{base}/inbox#decided")
            _sign_in(other, "paz.planner")
            other_panel = other.get_by_role("tabpanel", name="Decided")
            expect(other_panel).to_be_visible()
            expect(other_panel).to_contain_text("No decided requests for you yet.")
            expect(other.locator(f"[data-request='{request_id}']")).to_have_count(0)
            other.goto(f"{base}/inbox?request={request_id}")
            refused = other.get_by_role("region", name="Request details", exact=True)
            expect(refused).to_contain_text(f"No request {request_id} that you may see")
            other.screenshot(path=str(artifacts / "inbox-decided-3-other-site.png"), full_page=True)
        finally:
            browser.close()
