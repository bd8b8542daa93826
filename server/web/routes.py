"""Routes serving the browser side: the demo host page, the approver inbox, the audit viewer, the widget script
and the static files they load.

Everything is package data read with :mod:`importlib.resources`, so an installed wheel serves the same files as a
checkout. Pages carry a strict Content-Security-Policy (scripts, styles and API calls from this origin only);
data never reaches them server-side — each page calls the JSON API with the visitor's bearer token.
"""

from __future__ import annotations

from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["CONTENT_TYPES", "PAGES", "read_asset", "router"]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""The only file kinds served from ``static/`` (anything else is a 404)."""

PAGES = {"/": "index.html", "/inbox": "inbox.html", "/audit": "audit.html"}
"""Page path → HTML file under ``static/``."""

_PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}

router = APIRouter(include_in_schema=False)


def read_asset(relative: str) -> bytes | None:
    """The bytes of ``static/<relative>``, or ``None`` when no such servable file exists.

    Only plain relative paths of known file kinds are looked up: no ``..``, no hidden files, no backslashes.
    """
    parts = relative.split("/")
    if any(not part or part.startswith(".") or "\\" in part for part in parts):
        return None
    if PurePosixPath(relative).suffix not in CONTENT_TYPES:
        return None
    node = resources.files("server.web").joinpath("static", *parts)
    return node.read_bytes() if node.is_file() else None


def _serve(relative: str, *, page: bool = False) -> Response:
    body = read_asset(relative)
    if body is None:
        raise HTTPException(status_code=404, detail=f"no such file: {relative}")
    headers = dict(_COMMON_HEADERS)
    if page:
        headers["Content-Security-Policy"] = _PAGE_CSP
    return Response(content=body, media_type=CONTENT_TYPES[PurePosixPath(relative).suffix], headers=headers)


@router.get("/")
def portal_page() -> Response:
    """The demo host page: a plant portal embedding the widget with one script tag."""
    return _serve(PAGES["/"], page=True)


@router.get("/inbox")
def inbox_page() -> Response:
    """The approver inbox: pending requests the visitor may decide, and their own requests."""
    return _serve(PAGES["/inbox"], page=True)


@router.get("/audit")
def audit_page() -> Response:
    """The audit viewer (the API behind it answers auditors and admins only)."""
    return _serve(PAGES["/audit"], page=True)


@router.get("/widget.js")
def widget_script() -> Response:
    """The embeddable chat widget (a classic script: ``<script src=".../widget.js" defer></script>``)."""
    return _serve("widget.js")


@router.get("/static/{relative:path}")
def static_file(relative: str) -> Response:
    """A stylesheet, script or image under ``static/`` (pages only at their own paths, with their CSP)."""
    if relative.endswith(".html"):
        raise HTTPException(status_code=404, detail=f"no such file: {relative}")
    return _serve(relative)
