"""One settings object, read from an injectable environment.

Nothing reads ``os.environ`` at import time; the CLI entry and the FastAPI
lifespan call :meth:`Settings.from_env` and pass the result down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import TypedDict

from server.errors import SettingsError
from server.secrets import mask_url
from server.tracing_settings import TracingSettings, tracing_settings

__all__ = ["DEFAULT_TODAY", "Settings", "SettingsError"]

DEFAULT_TODAY = date(2026, 3, 2)

_URL_FIELDS = frozenset({"data_url", "state_url", "chroma_url", "openai_base_url", "jwks_url"})
"""Fields holding URLs, which may carry a password: shown by :meth:`Settings.__repr__` without it."""


@dataclass(frozen=True, repr=False)
class Settings:
    """Runtime configuration of jidoka (its ``repr`` shows no secret: a settings object may end up in a log)."""

    home: Path
    """``JIDOKA_HOME``: where embedded state lives (default ``./var``)."""
    data_url: str
    """``JIDOKA_DATA_URL``: SQLAlchemy URL of the ERP/MES data."""
    state_url: str
    """``JIDOKA_STATE_URL``: SQLAlchemy URL of audit, approvals and checkpoints."""
    today: date
    """``JIDOKA_TODAY``: the plant's 'today' (ISO date)."""
    policy_dir: Path | None = None
    """``JIDOKA_POLICY_DIR``: the policy folder; ``None`` uses the policy shipped with jidoka."""
    embeddings: str = "minilm"
    """``JIDOKA_EMBEDDINGS``: ``minilm`` (offline, default) or ``openai:<model>`` (an embeddings endpoint)."""
    chroma_url: str | None = None
    """``JIDOKA_CHROMA_URL``: a Chroma server for the knowledge base; unset = embedded under ``JIDOKA_HOME``."""
    model: str = "rules"
    """``JIDOKA_MODEL``: ``rules`` (offline, default) or ``openai:<model>``."""
    openai_base_url: str | None = None
    """``OPENAI_BASE_URL``: an OpenAI-compatible server (Azure OpenAI, vLLM, Ollama, LM Studio…)."""
    openai_api_key: str | None = field(default=None, repr=False)
    """``OPENAI_API_KEY`` (optional for local servers); never printed."""
    model_timeout_s: float = 20.0
    """``JIDOKA_MODEL_TIMEOUT_S``: after this many seconds a model call fails over to the rules model."""
    jwt_secret: str | None = field(default=None, repr=False)
    """``JIDOKA_JWT_SECRET``: HS256 key of demo bearer tokens (``jidoka token``); never printed."""
    jwks_url: str | None = None
    """``JIDOKA_JWKS_URL``: an OIDC provider's JWKS; RS256 bearer tokens are verified against it."""
    jwt_audience: str | None = None
    """``JIDOKA_JWT_AUDIENCE``: the ``aud`` a bearer token must carry (checked when set)."""
    jwt_issuer: str | None = None
    """``JIDOKA_JWT_ISSUER``: the ``iss`` a bearer token must carry (checked when set)."""
    jwt_max_ttl_s: int = 12 * 3600
    """``JIDOKA_JWT_MAX_TTL_S``: the longest lifetime (``exp`` − ``iat``) a bearer token may have; longer-lived
    tokens, and tokens without ``iat``, are refused (401), and ``jidoka token`` mints none longer."""
    max_body_bytes: int = 65536
    """``JIDOKA_MAX_BODY_BYTES``: larger HTTP request bodies are refused (413)."""
    max_message_chars: int = 4000
    """``JIDOKA_MAX_MESSAGE_CHARS``: longer chat messages are refused (422)."""
    rate_limit_per_minute: int = 30
    """``JIDOKA_RATE_LIMIT_PER_MIN``: turns (chat, decisions) per user per minute; more get 429."""
    demo_login: bool = False
    """``JIDOKA_DEMO_LOGIN``: ``1`` serves the demo login (pick a user, get a token); never in production."""
    cors_origins: tuple[str, ...] = ()
    """``JIDOKA_CORS_ORIGINS``: comma-separated origins whose pages may call the API (the embedded widget)."""
    audit_signing_key: str | None = field(default=None, repr=False)
    """``JIDOKA_AUDIT_SIGNING_KEY``: Ed25519 private key signing checkpoints of the audit chain; never printed."""
    audit_kek: str | None = field(default=None, repr=False)
    """``JIDOKA_AUDIT_KEK``: base64 of the 32-byte key-encryption key of the sealed audit fields; unset:
    ``$JIDOKA_HOME/audit.kek`` when that file exists (``jidoka init`` writes it), else fields are stored in clear.
    Never printed."""
    audit_verify_keys: tuple[str, ...] = ()
    """``JIDOKA_AUDIT_VERIFY_KEY``: comma-separated Ed25519 public keys whose checkpoints verify also trusts
    (an auditor without the signing key; the old key after a rotation)."""
    audit_anchor: Path | None = None
    """``JIDOKA_AUDIT_ANCHOR``: the append-only checkpoint file; ``$JIDOKA_HOME/audit-anchors.jsonl`` when a key
    is set, ``None`` (no anchor) otherwise."""
    audit_anchor_every: int = 100
    """``JIDOKA_AUDIT_ANCHOR_EVERY``: a checkpoint whenever an append crosses a multiple of this many events."""
    audit_anchor_seconds: float = 60.0
    """``JIDOKA_AUDIT_ANCHOR_SECONDS``: and on the first append this long after a process's last checkpoint."""

    monitor_interval_s: int | None = None
    """``JIDOKA_MONITOR_INTERVAL_S``: seconds between the monitor runs inside ``jidoka serve``; ``0`` = no scheduled
    runs (``jidoka monitor run`` from cron instead); unset = the policy's ``monitoring.interval_minutes``."""
    tracing: TracingSettings = field(default_factory=TracingSettings)
    """The standard ``OTEL_*`` variables: where OpenTelemetry spans go (nowhere when none is set)."""

    def __repr__(self) -> str:
        """The settings without their secrets: URLs without passwords, the API key and JWT secret left out."""
        shown = []
        for spec in fields(self):
            if not spec.repr:
                continue
            value = getattr(self, spec.name)
            if spec.name in _URL_FIELDS and isinstance(value, str):
                value = mask_url(value)
            shown.append(f"{spec.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (``os.environ`` when omitted)."""
        source = os.environ if env is None else env
        home = Path(source.get("JIDOKA_HOME") or "./var").expanduser().resolve()
        raw_today = source.get("JIDOKA_TODAY") or DEFAULT_TODAY.isoformat()
        try:
            today = date.fromisoformat(raw_today)
        except ValueError:
            raise SettingsError(
                f"JIDOKA_TODAY must be an ISO date like 2026-03-02, got {raw_today!r}"
            ) from None
        raw_timeout = source.get("JIDOKA_MODEL_TIMEOUT_S") or "20"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise SettingsError(f"JIDOKA_MODEL_TIMEOUT_S must be a number of seconds, got {raw_timeout!r}") from None
        if not 0 < timeout <= 3600:
            raise SettingsError(f"JIDOKA_MODEL_TIMEOUT_S must be between 0 and 3600 seconds, got {raw_timeout!r}")
        server = _server_settings(source)
        audit = _audit_settings(source, home)
        return cls(
            **server,
            **audit,
            tracing=tracing_settings(source),
            model=source.get("JIDOKA_MODEL") or "rules",
            embeddings=_embeddings_setting(source),
            chroma_url=_chroma_url_setting(source),
            openai_base_url=source.get("OPENAI_BASE_URL") or None,
            openai_api_key=source.get("OPENAI_API_KEY") or None,
            model_timeout_s=timeout,
            home=home,
            data_url=source.get("JIDOKA_DATA_URL") or f"sqlite:///{home / 'plant.db'}",
            state_url=source.get("JIDOKA_STATE_URL") or f"sqlite:///{home / 'state.db'}",
            today=today,
            policy_dir=Path(source["JIDOKA_POLICY_DIR"]).expanduser().resolve()
            if source.get("JIDOKA_POLICY_DIR") else None,
        )


def _int_setting(source: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = source.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


class _ServerSettings(TypedDict):
    jwt_secret: str | None
    jwks_url: str | None
    jwt_audience: str | None
    jwt_issuer: str | None
    jwt_max_ttl_s: int
    max_body_bytes: int
    max_message_chars: int
    rate_limit_per_minute: int
    demo_login: bool
    cors_origins: tuple[str, ...]
    monitor_interval_s: int | None


def _server_settings(source: Mapping[str, str]) -> _ServerSettings:
    """The HTTP server's settings (auth and limits)."""
    raw_demo = (source.get("JIDOKA_DEMO_LOGIN") or "0").strip().lower()
    if raw_demo not in ("0", "1", "true", "false", "yes", "no", ""):
        raise SettingsError(f"JIDOKA_DEMO_LOGIN must be 1 or 0, got {raw_demo!r}")
    return {
        "jwt_secret": source.get("JIDOKA_JWT_SECRET") or None,
        "jwks_url": source.get("JIDOKA_JWKS_URL") or None,
        "jwt_audience": source.get("JIDOKA_JWT_AUDIENCE") or None,
        "jwt_issuer": source.get("JIDOKA_JWT_ISSUER") or None,
        "jwt_max_ttl_s": _int_setting(source, "JIDOKA_JWT_MAX_TTL_S", 12 * 3600, 60, 30 * 24 * 3600),
        "max_body_bytes": _int_setting(source, "JIDOKA_MAX_BODY_BYTES", 65536, 1024, 64 * 1024 * 1024),
        "max_message_chars": _int_setting(source, "JIDOKA_MAX_MESSAGE_CHARS", 4000, 1, 4000),
        "rate_limit_per_minute": _int_setting(source, "JIDOKA_RATE_LIMIT_PER_MIN", 30, 1, 100000),
        "monitor_interval_s": (_int_setting(source, "JIDOKA_MONITOR_INTERVAL_S", 0, 0, 7 * 24 * 3600)
                               if source.get("JIDOKA_MONITOR_INTERVAL_S") else None),
        "demo_login": raw_demo in ("1", "true", "yes"),
        "cors_origins": _origins(source.get("JIDOKA_CORS_ORIGINS") or ""),
    }


class _AuditSettings(TypedDict):
    audit_signing_key: str | None
    audit_kek: str | None
    audit_verify_keys: tuple[str, ...]
    audit_anchor: Path | None
    audit_anchor_every: int
    audit_anchor_seconds: float


def _audit_settings(source: Mapping[str, str], home: Path) -> _AuditSettings:
    """The audit anchor's keys, file and rhythm; a key that cannot be used fails here (never echoing it)."""
    signing = (source.get("JIDOKA_AUDIT_SIGNING_KEY") or "").strip() or None
    verify = tuple(k.strip() for k in (source.get("JIDOKA_AUDIT_VERIFY_KEY") or "").split(",") if k.strip())
    if signing is not None or verify:
        from guardrails.audit.anchor import parse_signing_key, parse_verify_key  # cryptography only when used
        from guardrails.errors import AuditKeyInvalid

        try:
            if signing is not None:
                parse_signing_key(signing)
            for key in verify:
                parse_verify_key(key)
        except AuditKeyInvalid as exc:
            raise SettingsError(str(exc)) from None
    raw_anchor = (source.get("JIDOKA_AUDIT_ANCHOR") or "").strip()
    if raw_anchor and signing is None and not verify:
        raise SettingsError("JIDOKA_AUDIT_ANCHOR needs JIDOKA_AUDIT_SIGNING_KEY (to write it) or "
                            "JIDOKA_AUDIT_VERIFY_KEY (to check it)")
    anchor = Path(raw_anchor).expanduser().resolve() if raw_anchor else (
        home / "audit-anchors.jsonl" if signing is not None or verify else None)
    raw_seconds = source.get("JIDOKA_AUDIT_ANCHOR_SECONDS") or "60"
    try:
        seconds = float(raw_seconds)
    except ValueError:
        raise SettingsError(f"JIDOKA_AUDIT_ANCHOR_SECONDS must be a number of seconds, got {raw_seconds!r}") from None
    if not 0 < seconds <= 86400:
        raise SettingsError(f"JIDOKA_AUDIT_ANCHOR_SECONDS must be between 0 and 86400, got {raw_seconds!r}")
    return {
        "audit_signing_key": signing,
        "audit_kek": (source.get("JIDOKA_AUDIT_KEK") or "").strip() or None,
        "audit_verify_keys": verify,
        "audit_anchor": anchor,
        "audit_anchor_every": _int_setting(source, "JIDOKA_AUDIT_ANCHOR_EVERY", 100, 1, 1_000_000_000),
        "audit_anchor_seconds": seconds,
    }


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(f"JIDOKA_CORS_ORIGINS: {origin!r} is not an origin like https://erp.example.com")
    return origins


def _embeddings_setting(source: Mapping[str, str]) -> str:
    raw = (source.get("JIDOKA_EMBEDDINGS") or "minilm").strip()
    provider, _, model = raw.partition(":")
    if raw != "minilm" and not (provider == "openai" and model.strip()):
        raise SettingsError(f"JIDOKA_EMBEDDINGS must be 'minilm' or 'openai:<model>', got {raw!r}")
    return raw


def _chroma_url_setting(source: Mapping[str, str]) -> str | None:
    raw = (source.get("JIDOKA_CHROMA_URL") or "").strip()
    if raw and not raw.startswith(("http://", "https://")):
        raise SettingsError(f"JIDOKA_CHROMA_URL must be an http(s):// URL of a Chroma server, got {mask_url(raw)!r}")
    return raw or None
