"""Answer parts in a real browser: Debian's Chromium driven by Playwright against the real app under uvicorn (rules
model, demo login, a copy of the demo plant).

A planner asks a list question and gets a table beside the text: its column headers sort it from the keyboard
(``aria-sort`` follows), a row's record id opens the record card, and "Download CSV" saves the table as shown —
in the order shown, with a formula-like plant text (planted in the copy) quoted so a spreadsheet cannot run it. A
supervisor asks how scrap developed and gets a chart: labelled axes, the baseline as a dashed line and every value
in its text alternative. Screenshots go to ``artifacts/screenshots/`` under the repo root (CI keeps them).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from server.settings import Settings
from tests.server.browser._live import CHROMIUM, CHROMIUM_ARGS, demo_settings_env, live_server, require_browser
from tests.server.browser.test_widget_e2e import UNLABELLED_CONTROLS, _ask, _sign_in
from tools import make_engine

pytestmark = pytest.mark.slow

LIST = "which items are below their reorder point at P100?"
TREND = "how has scrap developed on line {line}?"
FORMULA = "=HYPERLINK(\"http://example.invalid\",\"x\")"

SHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"

CELLS = """(table) => [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))"""


def _plant_formula(home: Path) -> str:
    """Give the most severe item below its minimum at P100 a formula-like description (a spreadsheet would run it)."""
    engine = make_engine(f"sqlite:///{home / 'plant.db'}")
    try:
        with engine.begin() as conn:
            rows = conn.execute(text(
                "SELECT rp.item_id FROM reorder_points rp WHERE rp.site_id = 'P100' AND rp.min_qty > "
                "(SELECT COALESCE(SUM(i.qty_on_hand - i.qty_reserved), 0) FROM inventory i WHERE i.site_id = 'P100' "
                "AND i.item_id = rp.item_id AND i.stock_status = 'unrestricted') ORDER BY rp.item_id")).all()
            item = str(rows[0][0])
            conn.execute(text("UPDATE items SET description = :d WHERE item_id = :i"), {"d": FORMULA, "i": item})
        return item
    finally:
        engine.dispose()


def _number(cell: str) -> float:
    return float(cell.replace(",", "")) if cell not in ("", "—") else float("inf")


def test_a_list_answer_is_a_sortable_exportable_table_and_a_trend_a_chart(
        demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    from server.app import create_app

    SHOTS.mkdir(parents=True, exist_ok=True)
    env = demo_settings_env(demo_home, tmp_path / "home")
    item = _plant_formula(tmp_path / "home")
    line = demo_manifest["scenarios"]["scrap_spike"]["line_id"]

    with live_server(create_app(Settings.from_env(env))) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/")
            _sign_in(page, "pat.planner")
            page.get_by_role("button", name="Ask jidoka", exact=True).click()
            answer = _ask(page, LIST)

            # --- the table: a named region with labelled controls, one row per item below its minimum
            part = answer.locator(".jd-part[data-part='table']")
            expect(part).to_have_count(1)
            expect(part.get_by_role("heading", name="Items below reorder minimum")).to_be_visible()
            table = part.get_by_role("table")
            assert page.evaluate(UNLABELLED_CONTROLS, page.locator("body").element_handle()) == []
            shown = table.evaluate(CELLS)
            assert shown and any(item in row for row in shown) and any(FORMULA in row for row in shown)
            page.screenshot(path=str(SHOTS / "parts-1-table.png"))

            # --- sort from the keyboard: Enter on a header sorts, aria-sort says which way
            headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
            column = headers.index("Available")
            sort = table.get_by_role("button", name="Available", exact=True)
            sort.focus()
            page.keyboard.press("Enter")
            header = table.locator("thead th").nth(column)
            expect(header).to_have_attribute("aria-sort", "ascending")
            values = [_number(r[column]) for r in table.evaluate(CELLS)]
            assert values == sorted(values)
            page.keyboard.press("Enter")
            expect(header).to_have_attribute("aria-sort", "descending")
            rows = table.evaluate(CELLS)
            values = [_number(r[column]) for r in rows]
            assert values == sorted(values, reverse=True) and values[0] > values[-1]
            other = table.locator("thead th").nth(headers.index("Item"))
            expect(other).to_have_attribute("aria-sort", "none")
            expect(sort).to_be_focused()
            page.screenshot(path=str(SHOTS / "parts-2-sorted.png"))

            # --- CSV: the table as shown (header labels, this order), the formula-like text quoted as text
            with page.expect_download() as download:
                part.get_by_role("button", name=re.compile("^Download CSV")).click()
            saved = Path(download.value.path()).read_text(encoding="utf-8")
            assert download.value.suggested_filename == "items-below-reorder-minimum.csv"
            parsed = list(csv.reader(io.StringIO(saved)))
            assert parsed[0] == headers
            assert parsed[1:] == [[f"'{c}" if c[:1] in "=+-@" else c for c in r] for r in rows]
            assert f"'{FORMULA}" in saved.replace('""', '"') and f",{FORMULA}" not in saved

            # --- a row's record id opens the record card, as a citation does; Escape returns to it
            link = table.get_by_role("button", name=f"Show record {item}")
            link.click()
            record = page.get_by_role("dialog", name=item)
            expect(record).to_be_visible()
            expect(record).to_contain_text(FORMULA)
            page.screenshot(path=str(SHOTS / "parts-3-record.png"))
            page.keyboard.press("Escape")
            expect(record).to_be_hidden()
            expect(link).to_be_focused()

            # --- a trend is a chart: labelled axes, a dashed baseline, every value in its text alternative
            sup = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            sup.set_default_timeout(15_000)
            sup.goto(f"{base}/")
            _sign_in(sup, "sam.supervisor")
            sup.get_by_role("button", name="Ask jidoka", exact=True).click()
            trend = _ask(sup, TREND.format(line=line))
            figure = trend.locator(".jd-part[data-part='series']")
            expect(figure).to_have_count(1)
            chart = figure.get_by_role("img")
            label = chart.get_attribute("aria-label") or ""
            assert label.startswith(f"Scrap rate by day, {line}. Scrap rate by day: ")
            days = re.findall(r"(\d{4}-\d{2}-\d{2}) (?:(\d+(?:\.\d+)?)%|no value)", label.split("; Baseline")[0])
            assert len(days) == 10, label
            assert re.search(r"; Baseline \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} \d+(?:\.\d+)?%\.$", label), label
            drawn = figure.evaluate("""(f) => [...f.querySelectorAll('polyline.jd-line')]
              .reduce((n, l) => n + l.getAttribute('points').trim().split(/\\s+/).length, 0)
              + f.querySelectorAll('circle.jd-dot').length""")
            assert drawn == len([v for _, v in days if v]) > 1  # every day with output is drawn
            texts = figure.locator("svg text").all_text_contents()
            assert "Day" in texts and "Scrap rate (%)" in texts
            assert figure.locator(".jd-baseline line").get_attribute("stroke-dasharray")
            expect(figure.get_by_text(re.compile(f"^Scrap rate by day, {line}$"))).to_be_visible()
            sup.screenshot(path=str(SHOTS / "parts-4-chart.png"))
            assert sup.evaluate(UNLABELLED_CONTROLS, sup.locator("body").element_handle()) == []
        finally:
            browser.close()
