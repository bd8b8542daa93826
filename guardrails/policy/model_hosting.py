"""The policy's ``models.hosting`` rules: the endpoints a chat model may be reached at.

An ``openai`` model talks to the server at ``OPENAI_BASE_URL`` (``https://api.openai.com/v1`` when unset). Where a
plant's prompts and plant data may be sent is a hosting decision, so the policy lists the endpoints it allows and a
copilot configured for any other is refused at start-up, before any turn. The rules model runs in-process and has
no endpoint.

An entry is ``scheme://host[:port][/path]``: ``*`` as the port allows any port, a host ``*.example.com`` allows its
subdomains (not the bare domain), and a path allows itself and what lies below it (no path: any path). The port
defaults to the scheme's (443 / 80). User names and passwords in ``OPENAI_BASE_URL`` are ignored when matching.
Lower layers may only narrow: each entry they list must lie within an entry of the layers above, and their list
replaces the one above. Like the rest of ``models:``, the rules are deployment-wide (the model is fixed at
start-up, before any site is known), so a plant layer that narrows them narrows them everywhere. Without any
``hosting`` section every endpoint is allowed (the behaviour before these rules existed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from guardrails.errors import ModelEndpointNotAllowed, ModelPolicyError, ModelPolicyLoosening

__all__ = ["DEFAULT_OPENAI_ENDPOINT", "EndpointPattern", "ModelHosting"]

DEFAULT_OPENAI_ENDPOINT = "https://api.openai.com/v1"
"""Where the OpenAI client sends requests when ``OPENAI_BASE_URL`` is unset."""

_KEYS = frozenset({"allowed_endpoints"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    """A concrete endpoint, normalised for matching (no user info, default port filled in, no trailing slash)."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """``url`` normalised; :class:`ValueError` when it is not an http(s) URL with a host."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        return cls(scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme], parts.path.rstrip("/"))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True)
class EndpointPattern:
    """One ``allowed_endpoints`` entry."""

    scheme: str
    host: str
    """A host name or address, or ``*.domain`` for every subdomain of ``domain``."""
    port: int | None
    """``None``: any port (``*``)."""
    path: str
    """A path prefix without a trailing slash; ``""`` allows any path."""
    text: str
    """The entry as written."""
    file: str
    """The policy file that lists it."""

    @classmethod
    def parse(cls, file: str, key: str, text: object) -> EndpointPattern:
        """An entry; :class:`ModelPolicyError` naming ``file`` and ``key`` when it is malformed."""
        if not isinstance(text, str) or "://" not in text:
            raise ModelPolicyError(file, key, f"must be an endpoint like https://api.openai.com/v1 or "
                                              f"http://127.0.0.1:*, got {text!r}")
        scheme, _, rest = text.strip().partition("://")
        netloc, slash, path = rest.partition("/")
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ModelPolicyError(file, key, f"scheme must be http or https, got {scheme!r} in {text!r}")
        if "@" in netloc or "?" in rest or "#" in rest:
            raise ModelPolicyError(file, key, f"write scheme://host[:port][/path] only (no user, query or "
                                              f"fragment), got {text!r}")
        host, port_text = _split_host_port(netloc)
        if not host or "*" in host.removeprefix("*."):
            raise ModelPolicyError(file, key, f"host must be a name, an address or *.domain, got {text!r}")
        if port_text == "*":
            port: int | None = None
        elif port_text == "":
            port = _DEFAULT_PORTS[scheme]
        elif port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            raise ModelPolicyError(file, key, f"port must be a number or *, got {port_text!r} in {text!r}")
        return cls(scheme, host.lower(), port, (slash + path).rstrip("/"), text, file)

    def matches(self, endpoint: Endpoint) -> bool:
        """True when ``endpoint`` lies within this entry."""
        return (self.scheme == endpoint.scheme and _host_within(endpoint.host, self.host)
                and (self.port is None or self.port == endpoint.port) and _path_within(endpoint.path, self.path))

    def covers(self, other: EndpointPattern) -> bool:
        """True when every endpoint ``other`` allows, this entry allows too (a lower layer's entry must be
        covered by one of the layers above)."""
        return (self.scheme == other.scheme and _host_within(other.host, self.host)
                and (self.port is None or self.port == other.port) and _path_within(other.path, self.path))


def _split_host_port(netloc: str) -> tuple[str, str]:
    if netloc.startswith("["):  # an IPv6 address: [::1]:8000
        host, _, after = netloc[1:].partition("]")
        return host, after.removeprefix(":")
    host, _, port = netloc.partition(":")
    return host, port


def _host_within(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])  # "a.example.com" and "*.a.example.com" lie within "*.example.com"
    return host == pattern


def _path_within(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class ModelHosting:
    """The endpoints models may be reached at, after every policy layer."""

    allowed: tuple[EndpointPattern, ...] | None
    """``None``: the policy has no hosting rules, every endpoint is allowed."""
    decided_in: str = ""
    """The policy file whose list applies (the lowest layer that set one)."""

    @classmethod
    def from_sections(cls, sections: Sequence[tuple[str, Mapping[str, Any]]]) -> ModelHosting:
        """The rules from ``[(file, models section), ...]``, top layer first (sections without ``hosting`` keep
        the rules above)."""
        hosting = cls(allowed=None)
        for file, section in sections:
            if "hosting" in section:
                hosting = hosting._narrowed(file, section["hosting"])
        return hosting

    def _narrowed(self, file: str, raw: object) -> ModelHosting:
        if not isinstance(raw, Mapping) or set(raw) != set(_KEYS):
            raise ModelPolicyError(file, "models.hosting", "must be a mapping with allowed_endpoints (a list)")
        entries = raw["allowed_endpoints"]
        if not isinstance(entries, list):
            raise ModelPolicyError(file, "models.hosting.allowed_endpoints",
                                   f"must be a list, got {type(entries).__name__}")
        patterns = tuple(EndpointPattern.parse(file, f"models.hosting.allowed_endpoints[{i}]", text)
                         for i, text in enumerate(entries))
        if self.allowed is not None:
            for i, pattern in enumerate(patterns):
                if not any(upper.covers(pattern) for upper in self.allowed):
                    raise ModelPolicyLoosening(file, f"models.hosting.allowed_endpoints[{i}]",
                                               f"would allow {pattern.text!r}, which {self.decided_in} does not")
        return ModelHosting(allowed=patterns, decided_in=file)

    def check(self, model_id: str, base_url: str | None) -> None:
        """Refuse (:class:`ModelEndpointNotAllowed`) an ``openai`` model at ``base_url`` (``None``: the default
        OpenAI endpoint) that no entry allows."""
        if self.allowed is None:
            return
        url = base_url or DEFAULT_OPENAI_ENDPOINT
        try:
            endpoint = Endpoint.parse(url)
        except ValueError:
            endpoint = None
        if endpoint is not None and any(p.matches(endpoint) for p in self.allowed):
            return
        shown = str(endpoint) if endpoint is not None else "an unparsable OPENAI_BASE_URL"
        raise ModelEndpointNotAllowed(model_id, shown, tuple(p.text for p in self.allowed), self.decided_in)
