"""Bearer tokens: HS256 demo tokens (``JIDOKA_JWT_SECRET``) and RS256 tokens of an OIDC provider (JWKS).

Which key verifies a token follows from the server's settings, never from the
token alone: an HS256 token is checked only against the demo secret, an RS256
token only against a key of the configured JWKS (so a token cannot pick a
weaker algorithm or smuggle its own key). ``sub``, ``iat`` and ``exp`` are
required, and a token may live at most ``JIDOKA_JWT_MAX_TTL_S`` (``exp`` −
``iat``; nor may its ``exp`` lie further ahead than that): a leaked token with an
``exp`` years away is refused. When ``JIDOKA_JWT_AUDIENCE`` / ``JIDOKA_JWT_ISSUER``
are set, every token must carry them — HS256 ones too (``jidoka token`` and the
demo login then mint them with those claims).

The identity that governs is the **policy's** user named by ``sub``: the
token's ``roles`` and ``sites`` claims are informational and ignored for every
decision (an identity provider's role names need not be the policy's, and a
token can never widen what the policy grants). A subject the policy does not
know is refused like a bad token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt.types import Options

from guardrails.errors import UnknownUser
from guardrails.identity import User
from guardrails.policy.loader import Policy
from server.api.errors import Unauthorized
from server.errors import TokenNotMinted
from server.settings import Settings

__all__ = ["DEMO_ISSUER", "JwksFetcher", "JwksKeys", "TokenClaims", "TokenVerifier", "mint_demo_token",
           "mint_for"]

DEMO_ISSUER = "jidoka-demo"
"""``iss`` of tokens minted by ``jidoka token`` and the demo login."""

JwksFetcher = Callable[[str], Mapping[str, Any]]
"""Fetches a JWKS document (``{"keys": [...]}``) from a URL."""

_JWKS_REFRESH_S = 60.0
_LEEWAY_S = 5
"""Seconds of clock skew allowed on ``exp`` / ``iat`` (and on the lifetime measured against the clock)."""


def _http_jwks(url: str) -> Mapping[str, Any]:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("a JWKS document is a JSON object")
    return data


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says (``roles`` / ``sites`` as claimed, not what governs)."""

    subject: str
    expires_at: int
    roles: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()


class JwksKeys:
    """The signing keys of an OIDC provider, fetched from its JWKS URL and refreshed when a new ``kid`` shows up
    (at most once a minute, so unknown kids cannot make us hammer the provider)."""

    def __init__(self, url: str, fetch: JwksFetcher | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self._fetch = fetch or _http_jwks
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        document = self._fetch(self.url)
        keys: dict[str, Any] = {}
        for raw in document.get("keys", []):
            if not isinstance(raw, Mapping) or raw.get("kty") != "RSA" or raw.get("use", "sig") != "sig":
                continue
            keys[str(raw.get("kid", ""))] = jwt.PyJWK.from_json(json.dumps(dict(raw)), algorithm="RS256").key
        self._keys = keys
        self._fetched_at = self._clock()

    def key(self, kid: str | None) -> Any:
        """The public key for ``kid`` (the only key when the token names none); :class:`Unauthorized` if unknown."""
        with self._lock:
            stale = self._fetched_at is None or self._clock() - self._fetched_at >= _JWKS_REFRESH_S
            if (kid or "") not in self._keys and stale:
                try:
                    self._refresh()
                except Exception as exc:  # the provider is down or sent garbage: refuse, say why
                    raise Unauthorized(f"the identity provider's keys could not be read ({type(exc).__name__})") \
                        from None
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if (kid or "") not in self._keys:
                raise Unauthorized("the token was signed with a key the identity provider does not publish")
            return self._keys[kid or ""]


class TokenVerifier:
    """Verifies bearer tokens and maps them to the policy's user."""

    def __init__(self, settings: Settings, policy: Policy, *, jwks_fetcher: JwksFetcher | None = None) -> None:
        self._secret = settings.jwt_secret
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._max_ttl_s = settings.jwt_max_ttl_s
        self._policy = policy
        self._jwks = JwksKeys(settings.jwks_url, jwks_fetcher) if settings.jwks_url else None

    @property
    def offline(self) -> bool:
        """True when verifying never leaves the process (no JWKS to fetch: HS256 demo tokens only)."""
        return self._jwks is None

    @property
    def configured(self) -> bool:
        """True when at least one way of verifying tokens is set up."""
        return bool(self._secret) or self._jwks is not None

    def _key(self, token: str) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg == "HS256" and self._secret:
            return self._secret, "HS256"
        if alg == "RS256" and self._jwks is not None:
            kid = header.get("kid")
            return self._jwks.key(kid if isinstance(kid, str) else None), "RS256"
        accepted = [a for a, on in (("HS256", bool(self._secret)), ("RS256", self._jwks is not None)) if on]
        raise Unauthorized(f"tokens signed with {alg!r} are not accepted here (accepted: "
                           f"{', '.join(accepted) or 'none — set JIDOKA_JWT_SECRET or JIDOKA_JWKS_URL'})")

    def claims(self, token: str) -> TokenClaims:
        """Verify signature, ``exp``, ``iat`` and the lifetime (``aud`` / ``iss`` too when set); :class:`Unauthorized`
        otherwise."""
        if not self.configured:
            raise Unauthorized("this server accepts no tokens: neither JIDOKA_JWT_SECRET nor JIDOKA_JWKS_URL is set")
        key, alg = self._key(token)
        options: Options = {"require": ["exp", "iat", "sub"], "verify_aud": self._audience is not None}
        try:
            raw = jwt.decode(token, key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                             options=options, leeway=_LEEWAY_S)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bearer token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the bearer token's signature is not valid") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from None
        self._check_lifetime(raw)
        subject = raw.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("the bearer token has no subject")

        def strings(name: str) -> tuple[str, ...]:
            value = raw.get(name)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return TokenClaims(subject=subject, expires_at=int(raw["exp"]), roles=strings("roles"),
                           sites=strings("sites"))

    def _check_lifetime(self, raw: Mapping[str, Any]) -> None:
        """Refuse a token meant to live longer than ``JIDOKA_JWT_MAX_TTL_S`` (by ``iat`` or by the clock)."""
        exp, iat = int(raw["exp"]), int(raw["iat"])  # both required, and int() already succeeded in jwt.decode
        limit = self._max_ttl_s
        if exp - iat > limit or exp - time.time() > limit + _LEEWAY_S:
            raise Unauthorized(f"the bearer token lives longer than this server accepts ({exp - iat} s from "
                               f"iat to exp; at most {limit} s, JIDOKA_JWT_MAX_TTL_S): mint a shorter-lived one")

    def user(self, token: str) -> User:
        """The policy's user the token names (see the module docstring on claims)."""
        claims = self.claims(token)
        try:
            return self._policy.user(claims.subject)
        except UnknownUser:
            raise Unauthorized(f"the token's subject {claims.subject!r} is not a user of the policy") from None


def mint_demo_token(secret: str, user: User, *, ttl_s: int = 8 * 3600, now: float | None = None,
                    issuer: str | None = None, audience: str | None = None) -> str:
    """An HS256 demo token for ``user`` (``sub``, ``roles``, ``sites`` from the policy; ``iat`` = now, ``exp`` =
    now + ttl; ``iss`` = ``issuer`` or :data:`DEMO_ISSUER`, ``aud`` = ``audience`` when given)."""
    issued = int(time.time() if now is None else now)
    sites = user.site_list()
    payload: dict[str, Any] = {"sub": user.user_id, "name": user.name, "roles": sorted(user.roles),
                               "sites": sites if isinstance(sites, list) else [sites],
                               "iat": issued, "exp": issued + ttl_s, "iss": issuer or DEMO_ISSUER}
    if audience:
        payload["aud"] = audience
    return jwt.encode(payload, secret, algorithm="HS256")


def mint_for(settings: Settings, user: User, ttl_s: int) -> str:
    """A demo token the server with ``settings`` accepts: signed with its secret, carrying its configured
    ``iss`` / ``aud``; :class:`~server.errors.TokenNotMinted` without a secret or for a ``ttl_s`` over
    ``JIDOKA_JWT_MAX_TTL_S``."""
    if not settings.jwt_secret:
        raise TokenNotMinted("JIDOKA_JWT_SECRET is not set: the server could not verify the token")
    if ttl_s > settings.jwt_max_ttl_s:
        raise TokenNotMinted(f"a token for {ttl_s} s lives longer than JIDOKA_JWT_MAX_TTL_S "
                             f"({settings.jwt_max_ttl_s} s): the server would refuse it")
    return mint_demo_token(settings.jwt_secret, user, ttl_s=ttl_s, issuer=settings.jwt_issuer,
                           audience=settings.jwt_audience)
