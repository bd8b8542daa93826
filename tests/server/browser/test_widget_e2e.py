"""The widget, the inbox and the audit viewer in a real browser: Debian's Chromium driven by Playwright against
the real app under uvicorn (rules model, demo login, a copy of the demo plant).

A planner asks and opens a cited record (its lineage on the card: system, table, record id, as-of), then asks for
a quality hold and sees it pending with its approvers; the quality engineer approves it in the inbox with a
comment; the planner's widget picks up the new status by polling
(and the resumed thread's outcome); the quality engineer may not read the audit trail, an auditor reads the hold
turn's trace and the chain's verification. Screenshots go to ``$JIDOKA_TEST_ARTIFACTS/browser`` (or the test's tmp dir).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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

pytestmark = pytest.mark.slow

UNLABELLED_CONTROLS = """(root) => {
  const scopes = [root];
  for (const host of root.querySelectorAll('*')) if (host.shadowRoot) scopes.push(host.shadowRoot);
  const bad = [];
  for (const scope of scopes) {
    for (const c of scope.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      if (c.closest('[hidden]')) continue;
      const named = (c.labels && c.labels.length) || c.getAttribute('aria-label') || c.getAttribute('aria-labelledby');
      if (!named) bad.push(c.outerHTML.slice(0, 120));
    }
    for (const b of scope.querySelectorAll('button')) {
      if (!(b.textContent.trim() || b.getAttribute('aria-label'))) bad.push(b.outerHTML.slice(0, 120));
    }
  }
  return bad;
}"""


def _sign_in(page: Any, user: str) -> None:
    """Pick a demo user in the page's session bar."""
    bar = page.locator("#session")
    bar.get_by_label("Demo user").select_option(user)
    bar.get_by_role("button", name="Sign in").click()
    bar.get_by_text("Signed in as").wait_for()


def _ask(page: Any, question: str) -> Any:
    """Type ``question`` into the widget and send it with Enter; returns the newest answer once complete."""
    box = page.get_by_label("Ask a question or request an action")
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".jd-bot").last
    page.wait_for_function(
        "() => { const r = document.querySelector('#jidoka-widget').shadowRoot;"
        " const a = [...r.querySelectorAll('.jd-bot')].pop(); return a && a.getAttribute('aria-busy') === 'false'; }")
    return answer


def test_planner_asks_supervisor_requests_hold_quality_approves(
        demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    from server.app import create_app

    artifacts = artifacts_dir(tmp_path)
    spike = demo_manifest["scenarios"]["scrap_spike"]
    lot, item = spike["lot_id"], spike["item_id"]
    settings = Settings.from_env(demo_settings_env(demo_home, tmp_path / "home"))

    with live_server(create_app(settings)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            requester = browser.new_context(viewport={"width": 1280, "height": 860})
            page = requester.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/")
            expect(page).to_have_title(re.compile("portal", re.I))

            # --- a planner asks; the answer streams in with a citation that opens the record (through the gate)
            _sign_in(page, "pat.planner")
            bubble = page.get_by_role("button", name="Ask jidoka", exact=True)
            bubble.focus()
            page.keyboard.press("Enter")  # keyboard only: the bubble is a real button
            panel = page.get_by_role("dialog", name="jidoka assistant")
            expect(panel).to_be_visible()
            expect(bubble).to_have_attribute("aria-expanded", "true")
            expect(page.get_by_label("Ask a question or request an action")).to_be_focused()
            assert page.evaluate(UNLABELLED_CONTROLS, page.locator("body").element_handle()) == []
            answer = _ask(page, f"show lot {lot}")
            expect(answer.locator(".jd-chip").first).to_contain_text("allow")
            expect(answer).to_contain_text("on hand")
            citation = answer.get_by_role("button", name=f"Show record {lot}")
            expect(citation.first).to_be_visible()
            page.screenshot(path=str(artifacts / "1-planner-cited-answer.png"))
            citation.first.click()
            record = page.get_by_role("dialog", name=lot)
            expect(record).to_be_visible()
            expect(record).to_contain_text(item)  # the lot's item, read live through the gate
            # The card says where the cited record comes from (the answer's lineage), as labelled fields.
            lineage = record.get_by_role("region", name="Lineage")
            expect(lineage).to_be_visible()
            fields = dict(zip(lineage.locator("dt").all_inner_texts(), lineage.locator("dd").all_inner_texts(),
                              strict=True))
            assert fields["Source system"] == "MES" and fields["Table"] == "lots" and fields["Record ID"] == lot
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(time of the read\)", fields["As of"]), fields
            turn_tool = answer.locator(".jd-chip").first.inner_text().split(" · ")[0]
            expect(lineage.locator(".jd-foot")).to_have_text(f"read by {turn_tool}")  # the answer's read
            page.screenshot(path=str(artifacts / "2-record-detail.png"))
            page.keyboard.press("Escape")  # closes the record, focus back on the citation
            expect(record).to_be_hidden()
            expect(citation.first).to_be_focused()
            page.keyboard.press("Escape")  # closes the panel, focus back on the bubble
            expect(panel).to_be_hidden()
            expect(bubble).to_be_focused()
            page.keyboard.press("Enter")
            expect(panel).to_be_visible()

            # --- the planner asks for a quality hold: it waits, pending, for the approvers the policy names
            answer = _ask(page, f"put lot {lot} and its open work orders on quality hold, seal failures")
            card = answer.locator(".jd-approval")
            expect(card).to_have_count(1)
            expect(card.locator(".jd-badge")).to_have_text("pending")
            expect(card).to_contain_text("quinn.quality")
            expect(answer.locator(".jd-chip")).to_contain_text("needs approval")
            request_id = card.get_attribute("data-approval")
            assert request_id and re.fullmatch(r"APR-[0-9A-F]{12}", request_id)
            trace = re.search(r"trace ([0-9a-f]+)", answer.locator(".jd-foot").inner_text())
            assert trace, answer.inner_text()
            page.screenshot(path=str(artifacts / "3-hold-pending.png"))

            # --- the quality engineer approves it in the inbox, with a comment
            approver = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            approver.set_default_timeout(15_000)
            approver.goto(f"{base}/inbox")
            _sign_in(approver, "quinn.quality")
            request = approver.locator(f"#pending article[data-request='{request_id}']")
            expect(request).to_be_visible()
            expect(request.get_by_role("table")).to_contain_text(lot)
            expect(request).to_contain_text("pat.planner")
            expect(request).to_contain_text("place_quality_hold")
            assert approver.evaluate(UNLABELLED_CONTROLS, approver.locator("body").element_handle()) == []
            approver.screenshot(path=str(artifacts / "4-inbox-pending.png"), full_page=True)
            request.get_by_label("Comment").fill("seal temperature drift confirmed on PK1")
            request.get_by_role("button", name="Approve").click()
            expect(approver.locator("#status")).to_contain_text(f"You approved {request_id}")
            expect(approver.locator(f"#pending article[data-request='{request_id}']")).to_have_count(0)
            approver.screenshot(path=str(artifacts / "5-inbox-approved.png"), full_page=True)

            # --- the requester's widget sees the new status (polling) and the resumed thread's outcome
            expect(card.locator(".jd-badge")).to_have_text("executed", timeout=20_000)
            expect(card).to_contain_text("quinn.quality approved")
            expect(card.locator(".jd-outcome")).to_contain_text(f"{lot} is on quality hold")
            page.screenshot(path=str(artifacts / "6-widget-executed.png"))

            # --- the audit viewer: not for the quality engineer; the auditor sees the trace and the chain
            approver.goto(f"{base}/audit")
            expect(approver.get_by_role("alert")).to_contain_text("Not allowed")
            auditor = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            auditor.set_default_timeout(15_000)
            auditor.goto(f"{base}/audit?trace={trace.group(1)}")
            _sign_in(auditor, "ada.auditor")
            expect(auditor.locator("#verify")).to_contain_text("intact")
            timeline = auditor.get_by_role("list", name="Events of the trace")
            expect(timeline.locator("li[data-kind='gate_decision']")).to_contain_text("needs_approval")
            expect(timeline.locator("li[data-kind='approval_requested']")).to_have_count(1)
            auditor.screenshot(path=str(artifacts / "7-audit-trace.png"), full_page=True)
        finally:
            browser.close()
