"""Secrets are never printed: URLs are shown without their passwords, and a masker hides the configured secrets.

:func:`mask_url` shows one URL with its password and its secret-named query values as ``***``.
:class:`SecretMasker` knows the secret values of a configuration (the passwords inside ``JIDOKA_DATA_URL``,
``JIDOKA_STATE_URL``, ``JIDOKA_CHROMA_URL``, ``OPENAI_BASE_URL`` and ``JIDOKA_JWKS_URL``, ``OPENAI_API_KEY``,
``JIDOKA_JWT_SECRET``) and replaces them in any text; it also masks the password of every URL and every
``password=…``/``token=…``-style pair it finds, configured or not. :class:`SecretFilter` applies a masker to log
records and :func:`install_log_masking` puts it on the handlers that print them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from knowledge.urls import without_password

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = ["MASK", "SecretFilter", "SecretMasker", "install_log_masking", "mask_url"]

MASK = "***"
"""What a secret is shown as."""

_MIN_FREE_TEXT = 4
"""Shorter secrets are masked inside URLs and ``key=value`` pairs only: replacing every ``ab`` in a text would
mangle it without hiding anything a reader could not guess."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_SECRET_NAME = r"[\w.\-]*(?:pass(?:word|wd)?|pwd|secret|token|key)[\w.\-]*"
_SECRET_PAIR = re.compile(rf"(?i)(?<![\w.\-])({_SECRET_NAME}=)([^&\s#'\",;]+)")
_SECRET_NAME_ONLY = re.compile(rf"(?i){_SECRET_NAME}")
_HTTP_SCHEMES = ("http", "https", "ws", "wss")
_URL_VARIABLES = ("JIDOKA_DATA_URL", "JIDOKA_STATE_URL", "JIDOKA_CHROMA_URL", "OPENAI_BASE_URL", "JIDOKA_JWKS_URL",
                  "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_VALUE_VARIABLES = ("OPENAI_API_KEY", "JIDOKA_JWT_SECRET", "JIDOKA_AUDIT_SIGNING_KEY")
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")
"""``key=value,...`` lists whose values are secrets (a collector's API key)."""
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
"""Whose handlers :func:`install_log_masking` filters: the root logger's and uvicorn's."""


def _mask_userinfo(url: str) -> str:
    return without_password(url, MASK)


def mask_url(url: str) -> str:
    """``url`` with its password and its secret-named query values (``password``, ``token``, ``api_key``…) shown
    as ``***``; text that is not a URL (a path) and URLs without secrets come back unchanged."""
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return url
    shown = url
    if scheme.lower() in _HTTP_SCHEMES:
        shown = _mask_userinfo(url)
    else:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            shown = _mask_userinfo(url)
        else:
            if parsed.password is not None:
                shown = parsed.render_as_string(hide_password=True)
    return _SECRET_PAIR.sub(rf"\g<1>{MASK}", shown)


def _url_secrets(url: str) -> set[str]:
    """The password of ``url`` (as written and decoded) and the values of its secret-named query parameters."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found |= {parts.password, unquote(parts.password)}
        for name, value in parse_qsl(parts.query, keep_blank_values=False):
            if _SECRET_NAME_ONLY.fullmatch(name):
                found |= {value, unquote(value)}
    except ValueError:
        pass
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    if password:
        found.add(str(password))
    return {s for s in found if s}


@dataclass(frozen=True)
class SecretMasker:
    """Replaces known secret values, URL passwords and ``password=…``-style values in a text with ``***``.

    Plain data (picklable), so a uvicorn worker process can receive it inside a logging configuration.
    """

    secrets: tuple[str, ...] = ()
    """The secret values to hide, longest first (so a secret containing another is hidden whole)."""

    @classmethod
    def of(cls, *, urls: Iterable[str | None] = (), values: Iterable[str | None] = ()) -> SecretMasker:
        """A masker for the passwords inside ``urls`` and the secret ``values`` (``None`` and empty are skipped)."""
        found: set[str] = {v for v in values if v}
        for url in urls:
            if url:
                found |= _url_secrets(url)
        return cls(tuple(sorted(found, key=lambda s: (-len(s), s))))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretMasker:
        """The masker of these settings' database and service URLs, OpenAI key, JWT secret, audit signing key and
        OTLP collector (endpoint and header values)."""
        return cls.of(urls=(settings.data_url, settings.state_url, settings.chroma_url, settings.openai_base_url,
                            settings.jwks_url, settings.tracing.endpoint),
                      values=(settings.openai_api_key, settings.jwt_secret, settings.audit_signing_key,
                              *(value for _, value in settings.tracing.headers)))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SecretMasker:
        """The masker of the same variables read raw from ``env``: it works even when the settings are invalid
        (the error naming the bad value must not print a secret either)."""
        headers = [part.partition("=")[2].strip() for name in _HEADER_VARIABLES
                   for part in (env.get(name) or "").split(",")]
        return cls.of(urls=(env.get(name) for name in _URL_VARIABLES),
                      values=[*(env.get(name) for name in _VALUE_VARIABLES), *headers, *(unquote(h) for h in headers)])

    def mask(self, text: str) -> str:
        """``text`` with every secret shown as ``***``."""
        if not text:
            return text
        masked = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
        masked = _SECRET_PAIR.sub(rf"\g<1>{MASK}", masked)
        for secret in self.secrets:
            if len(secret) >= _MIN_FREE_TEXT:
                masked = masked.replace(secret, MASK)
        return masked

    def mask_value(self, value: Any) -> Any:
        """A log argument masked: strings masked; other values kept unless their text shows a secret (then
        that text, masked), so ``%d`` and friends still format what holds no secret."""
        if isinstance(value, str):
            return self.mask(value)
        if value is None or isinstance(value, int | float):
            return value
        try:
            text = str(value)
        except Exception:  # a broken __str__ fails later in the handler, as it would without the filter
            return value
        masked = self.mask(text)
        return value if masked == text else masked


class SecretFilter(logging.Filter):
    """A logging filter that masks its masker's secrets in every record: the message, its arguments, the
    exception text and the stack text. It never drops a record.

    The exception's text is rendered (as :class:`logging.Formatter` renders it) and masked into
    ``record.exc_text``, which formatters print instead of formatting ``exc_info`` again.
    """

    def __init__(self, masker: SecretMasker | None = None) -> None:
        super().__init__()
        self.masker = masker or SecretMasker()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place; always keep it."""
        masker = self.masker
        record.msg = masker.mask_value(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: masker.mask_value(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(masker.mask_value(value) for value in record.args)
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masker.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = masker.mask(record.stack_info)
        return True


def install_log_masking(source: Settings | SecretMasker) -> SecretFilter:
    """Put a :class:`SecretFilter` for ``source`` on the handlers of the root logger and of uvicorn's loggers,
    replacing one installed before (idempotent; call it again once more handlers exist, e.g. in a server worker
    after uvicorn configured its logging). Handlers added later are not covered."""
    masker = source if isinstance(source, SecretMasker) else SecretMasker.from_settings(source)
    installed = SecretFilter(masker)
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for old in [f for f in handler.filters if isinstance(f, SecretFilter)]:
                handler.removeFilter(old)
            handler.addFilter(installed)
    return installed
