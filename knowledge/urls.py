"""URLs shown in messages: the password of ``user:password@`` is never among them.

Kept in the bottom layer so the knowledge store (a Chroma server URL in its errors) and the server's secret
masking (:mod:`server.secrets`) use one rule.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["without_password"]


def without_password(url: str, mask: str = "***") -> str:
    """``url`` with the password of its ``user:password@`` shown as ``mask`` (unchanged when it has none)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    return url.replace(parts.netloc, f"{userinfo.partition(':')[0]}:{mask}@{host}", 1)
