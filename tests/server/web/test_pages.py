"""The pages, the widget script and their static files, as the app serves them (httpx against the ASGI app).

The pages need no server state (they call the API from the browser), so the app's lifespan is not run here;
the browser test (tests/server/browser) drives the same pages against a running server.
"""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from server.web.routes import PAGES, read_asset

EXPECTED_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class _Page(HTMLParser):
    """What the accessibility and asset checks need from one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.title = ""
        self.landmarks: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.buttons: list[dict[str, str | None]] = []
        self.assets: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._stack: list[str] = []
        self._button: dict[str, str | None] | None = None  # buttons do not nest

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._stack.append(tag)
        if tag == "html":
            self.lang = a.get("lang")
        if tag in ("main", "nav", "header"):
            self.landmarks.add(tag)
        if tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        if tag == "button":
            a["_text"] = ""
            self.buttons.append(a)
            self._button = a
        if tag == "script":
            self.scripts.append(a)
            if a.get("src"):
                self.assets.append(str(a["src"]))
        if tag == "link" and a.get("rel") in ("stylesheet", "icon") and a.get("href"):
            self.assets.append(str(a["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "title":
            self.title += data
        if self._button is not None:
            self._button["_text"] = (str(self._button["_text"]) + data).strip()


def _get(tmp_path: Path, *paths: str) -> list[httpx.Response]:
    app = create_app(Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")}))

    async def fetch() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://jidoka.test") as c:
            return [await c.get(p) for p in paths]

    return asyncio.run(fetch())


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_is_html_with_a_strict_csp_and_labelled_controls(tmp_path: Path, path: str) -> None:
    (response,) = _get(tmp_path, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"

    page = _Page()
    page.feed(response.text)
    assert page.lang == "en" and page.title.strip()
    assert {"main", "nav", "header"} <= page.landmarks
    for control in page.controls:  # every static control is labelled (scripts add the rest: see the browser test)
        assert control.get("aria-label") or control.get("id") in page.label_for, control
    for button in page.buttons:
        assert button.get("_text") or button.get("aria-label"), button
    assert "style=" not in response.text and "<script>" not in response.text  # the CSP would block inline code

    assets = _get(tmp_path, *page.assets)
    for url, served in zip(page.assets, assets, strict=True):
        assert served.status_code == 200, url
        assert served.headers["content-type"] == EXPECTED_TYPES[Path(url).suffix], url


def test_the_demo_page_embeds_the_widget_with_one_script_tag(tmp_path: Path) -> None:
    (response,) = _get(tmp_path, "/")
    page = _Page()
    page.feed(response.text)
    widget = [s for s in page.scripts if str(s.get("src", "")).endswith("/widget.js")]
    assert len(widget) == 1 and "data-jidoka-url" in widget[0] and "defer" in widget[0]


def test_widget_script_and_styles_are_served_with_their_types(tmp_path: Path) -> None:
    script, styles, api = _get(tmp_path, "/widget.js", "/static/widget.css", "/static/js/api.js")
    assert script.status_code == styles.status_code == api.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert styles.headers["content-type"] == "text/css; charset=utf-8"
    assert api.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "attachShadow" in script.text  # the widget's styles cannot leak into the host page, nor the host's in


@pytest.mark.parametrize("path", [
    "/static/nope.js", "/static/js/..%2F..%2Froutes.py", "/static/index.html", "/static/.hidden.css",
    "/static/js", "/widget.css",
])
def test_anything_else_is_a_json_404(tmp_path: Path, path: str) -> None:
    (response,) = _get(tmp_path, path)
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("relative", ["../routes.py", "js/../../routes.py", ".hidden.js", "js//api.js",
                                      "routes.py", "js\\api.js", ""])
def test_read_asset_refuses_paths_outside_static_or_of_unknown_kinds(relative: str) -> None:
    assert read_asset(relative) is None


def test_read_asset_reads_package_data() -> None:
    body = read_asset("js/api.js")
    assert body is not None and b"export async function api" in body


SCRIPTS = ["/widget.js", "/static/js/api.js", "/static/js/session.js", "/static/js/inbox.js", "/static/js/audit.js",
           "/static/js/portal.js", "/static/js/signals.js", "/static/js/decided.js", "/static/js/tabs.js"]


def test_scripts_never_write_markup(tmp_path: Path) -> None:
    """Server text reaches the pages only through textContent / text nodes (the ``el`` helpers), never as HTML."""
    for url, served in zip(SCRIPTS, _get(tmp_path, *SCRIPTS), strict=True):
        assert served.status_code == 200, url
        for sink in ("innerHTML", "outerHTML =", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in served.text, (url, sink)


def test_the_inbox_has_a_signals_section_before_the_requests(tmp_path: Path) -> None:
    (response,) = _get(tmp_path, "/inbox")
    html = response.text
    assert 'id="signals"' in html and 'aria-labelledby="signals-h"' in html
    assert html.index('id="signals"') < html.index('id="pending"')
    inbox, signals, widget, audit = _get(tmp_path, "/static/js/inbox.js", "/static/js/signals.js", "/widget.js",
                                         "/static/js/audit.js")
    assert './signals.js"' in inbox.text  # the inbox module loads the signals module
    assert "/v1/signals?status=active" in signals.text and "/v1/signals?status=active" in widget.text
    for verb in ("acknowledge", "dismiss", "override"):
        assert verb in signals.text
    assert "signal_response" in audit.text and "monitor_run" in audit.text
