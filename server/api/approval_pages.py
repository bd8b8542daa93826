"""Which requests ``GET /v1/approvals`` lists: the status filter, and the opaque cursor of the decided listing.

``?status=decided`` (or any decided status: ``approved``, ``rejected``, ``expired``, ``executed``, ``failed``,
``compensated`` — an undone change) lists the decided requests the caller may see, newest change first, a page at a
time; no ``status`` or ``pending`` lists the open inbox as before. The cursor names only the last request of the
caller's own previous page (its ``updated_at`` and id), so it reveals nothing the caller could not already see.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from guardrails.approvals.decided import DECIDED, PageKey
from guardrails.approvals.models import RequestStatus, utc
from server.api.errors import Unprocessable

__all__ = ["CURSOR_PATTERN", "StatusFilter", "decided_statuses", "encode_cursor", "parse_cursor"]

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
"""What a cursor looks like on the wire (unpadded base64url)."""
_ID = re.compile(r"^(?:APR|AUT)-[0-9A-F]{12}$")


class StatusFilter(StrEnum):
    """A ``status`` the listing accepts: a request status, or ``decided`` for every status but pending."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"
    COMPENSATED = "compensated"
    DECIDED = "decided"


def decided_statuses(filters: Sequence[StatusFilter]) -> frozenset[RequestStatus] | None:
    """The decided statuses asked for (``None``: the open inbox was asked for); 422 when pending and decided
    statuses are mixed (they are two listings with different rules)."""
    asked = set(filters)
    if not asked or asked == {StatusFilter.PENDING}:
        return None
    if StatusFilter.PENDING in asked:
        raise Unprocessable("status: pending is the open inbox, the others the decided listing; ask for one",
                            field="status")
    if StatusFilter.DECIDED in asked:
        return DECIDED
    return frozenset(RequestStatus(f.value) for f in asked)


def encode_cursor(key: PageKey) -> str:
    """The opaque cursor of the page after ``key``."""
    raw = f"{key.updated_at.isoformat()}|{key.request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_cursor(cursor: str) -> PageKey:
    """The page key in ``cursor``; 422 naming ``cursor`` when it is not one this API made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        moment, request_id = raw.split("|")
        updated_at = utc(datetime.fromisoformat(moment))  # naive: ValueError; past year 9999 in UTC: OverflowError
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise Unprocessable("cursor: not a cursor of this listing (pass next_cursor as given)",
                            field="cursor") from None
    if not _ID.match(request_id):
        raise Unprocessable("cursor: not a cursor of this listing (pass next_cursor as given)", field="cursor")
    return PageKey(updated_at, request_id)
