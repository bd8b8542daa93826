"""Trace export settings, read from the standard OpenTelemetry ``OTEL_*`` variables.

Unlike the SDK's own default (``otlp``), jidoka exports nothing unless told to: traces go out only when
``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint variable is set, and
``OTEL_SDK_DISABLED=true`` turns everything off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from server.errors import SettingsError
from server.secrets import mask_url

__all__ = ["DEFAULT_EXCLUDED_URLS", "TracingSettings", "tracing_settings"]

DEFAULT_EXCLUDED_URLS = "/healthz,/readyz,/metrics"
"""Paths the HTTP instrumentation leaves untraced unless ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` says otherwise
(probes and scrapes every few seconds would bury the turns)."""

_EXPORTERS = frozenset({"otlp", "console"})
_PROTOCOLS = frozenset({"http/protobuf", "grpc"})
_SAMPLERS = frozenset({"always_on", "always_off", "traceidratio", "parentbased_always_on",
                       "parentbased_always_off", "parentbased_traceidratio"})


@dataclass(frozen=True)
class TracingSettings:
    """Where spans go (nowhere by default) and how the service is named."""

    exporters: tuple[str, ...] = ()
    """``OTEL_TRACES_EXPORTER``: ``otlp`` and/or ``console``; empty = tracing off."""
    endpoint: str | None = None
    """The OTLP traces endpoint (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT``
    with ``/v1/traces`` for HTTP); ``None``: the exporter's default (localhost)."""
    protocol: str = "http/protobuf"
    """``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf`` or ``grpc``."""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` / ``OTEL_EXPORTER_OTLP_HEADERS`` (often an API key): never printed."""
    service_name: str = "jidoka"
    """``OTEL_SERVICE_NAME``."""
    resource_attributes: tuple[tuple[str, str], ...] = ()
    """``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,...``)."""
    sampler: str = "parentbased_always_on"
    """``OTEL_TRACES_SAMPLER``."""
    sampler_arg: float = 1.0
    """``OTEL_TRACES_SAMPLER_ARG`` (the ratio of the ``traceidratio`` samplers)."""
    excluded_urls: str = DEFAULT_EXCLUDED_URLS
    """``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` / ``OTEL_PYTHON_EXCLUDED_URLS``: paths the HTTP spans skip."""

    @property
    def enabled(self) -> bool:
        """True when spans are exported somewhere."""
        return bool(self.exporters)

    def __repr__(self) -> str:
        """The settings without the headers (they may hold a key); the endpoint without a password."""
        endpoint = mask_url(self.endpoint) if self.endpoint else None
        return (f"TracingSettings(exporters={self.exporters!r}, endpoint={endpoint!r}, protocol={self.protocol!r}, "
                f"service_name={self.service_name!r}, sampler={self.sampler!r})")


def _pairs(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{name} must be key=value pairs separated by commas")
        pairs.append((unquote(key.strip()), unquote(value.strip())))
    return tuple(pairs)


def _first(source: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = (source.get(name) or "").strip()
        if value:
            return value
    return ""


def tracing_settings(source: Mapping[str, str]) -> TracingSettings:
    """The tracing settings of ``source`` (an environment); a value that cannot be used fails here."""
    if (source.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return TracingSettings()
    traces_endpoint = _first(source, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base_endpoint = _first(source, "OTEL_EXPORTER_OTLP_ENDPOINT")
    raw_exporters = _first(source, "OTEL_TRACES_EXPORTER").lower()
    if raw_exporters:
        names = tuple(dict.fromkeys(n.strip() for n in raw_exporters.split(",") if n.strip()))
        if names == ("none",):
            return TracingSettings()
        unknown = [n for n in names if n not in _EXPORTERS]
        if unknown:
            raise SettingsError(f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of otlp, console, none")
        exporters = names
    else:  # nothing named: export only when an OTLP endpoint is configured
        exporters = ("otlp",) if traces_endpoint or base_endpoint else ()
    protocol = _first(source, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in _PROTOCOLS:
        raise SettingsError(f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, got {protocol!r}")
    endpoint = traces_endpoint or None
    if endpoint is None and base_endpoint:
        endpoint = base_endpoint if protocol == "grpc" else base_endpoint.rstrip("/") + "/v1/traces"
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"the OTLP endpoint must be an http(s):// URL, got {mask_url(endpoint)!r}")
    sampler = (_first(source, "OTEL_TRACES_SAMPLER") or "parentbased_always_on").lower()
    if sampler not in _SAMPLERS:
        raise SettingsError(f"OTEL_TRACES_SAMPLER must be one of {', '.join(sorted(_SAMPLERS))}, got {sampler!r}")
    raw_arg = _first(source, "OTEL_TRACES_SAMPLER_ARG") or "1.0"
    try:
        sampler_arg = float(raw_arg)
    except ValueError:
        raise SettingsError(f"OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1, got {raw_arg!r}") from None
    if not 0.0 <= sampler_arg <= 1.0:
        raise SettingsError(f"OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1, got {raw_arg!r}")
    return TracingSettings(
        exporters=exporters, endpoint=endpoint, protocol=protocol,
        headers=_pairs("OTEL_EXPORTER_OTLP_HEADERS",
                       _first(source, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")),
        service_name=_first(source, "OTEL_SERVICE_NAME") or "jidoka",
        resource_attributes=_pairs("OTEL_RESOURCE_ATTRIBUTES", _first(source, "OTEL_RESOURCE_ATTRIBUTES")),
        sampler=sampler, sampler_arg=sampler_arg,
        excluded_urls=_first(source, "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")
        or DEFAULT_EXCLUDED_URLS,
    )
