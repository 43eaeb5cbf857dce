"""Authentication of CDS clients by JWT.

A client is trusted when its ``iss`` is in the trust file (JSON or YAML)::

    {"issuers": [{"iss": "https://ehr.example.org", "jwks": {"keys": [...]}},
                 {"iss": "https://sandbox.cds-hooks.org",
                  "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}]}

A token is accepted only if: ``alg`` is allowed (ES384/RS384 by default; never ``none``
or HMAC), ``typ`` is JWT, ``kid`` selects a key of that issuer's JWKS (static, or fetched
from its ``jwks_url``; a ``jku`` header must equal that URL, and is ignored for an issuer
with static keys only: no URL named by a token is ever fetched), the signature verifies,
``aud`` is the exact URL called, ``exp``/``iat`` hold within the clock skew, the
lifetime is bounded, ``tenant`` is allowed when the issuer lists tenants, and ``jti``
was not seen before, and every registered claim has its JSON type (``exp``, ``iat``,
``nbf`` numbers; ``iss``, ``jti``, ``tenant`` strings). Any failure is a bare 401; the
reason goes to the log (with ``iss``/``jti`` only, clipped, never the token).

An issuer may list ``fhir_servers``: the FHIR server bases its clients may name as
``fhirServer`` (the access token is only ever sent there). An issuer without the list may
name any server the service configuration allows (``fhir_server_allowlist``).

A JWKS fetched from ``jwks_url`` is kept until a refetch succeeds: an endpoint that is down
never empties the keys already known.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Column, Float, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from .config import ConfigError, ServiceConfig, read_structured_file
from .db import database_errors, metadata

log = logging.getLogger("cds_backpain.service.auth")

_KTY_FOR_ALG = {"ES": "EC", "RS": "RSA", "PS": "RSA"}


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return host is not None and ip_address(host).is_loopback
    except ValueError:
        return False


class TrustedIssuer(BaseModel):
    """One allowlisted CDS client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    #: If given, the token's ``tenant`` must be one of these.
    tenants: tuple[str, ...] = ()
    #: If given, the only FHIR server bases this issuer's calls may name as ``fhirServer``.
    fhir_servers: tuple[str, ...] = ()

    @field_validator("fhir_servers")
    @classmethod
    def _servers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from .prefetch import normalise_base

        out = []
        for url in v:
            base = normalise_base(url)
            if base is None:
                raise ValueError(f"fhir_servers: {url!r} is not an absolute http(s) URL")
            out.append(base)
        return tuple(out)

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
            return v
        raise ValueError("jwks_url must be https (http only on loopback, for tests)")

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        keys = v.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("jwks must be a JWK Set: {'keys': [...]}")
        for k in keys:
            if not isinstance(k, dict) or not k.get("kid") or k.get("kty") not in ("EC", "RSA"):
                raise ValueError("every JWK needs a 'kid' and kty EC or RSA")
            if any(p in k for p in ("d", "p", "q", "dp", "dq", "qi")):
                raise ValueError(f"JWK {k['kid']!r} contains private key material")
            try:
                jwt.PyJWK(k)
            except jwt.PyJWTError as exc:
                raise ValueError(f"JWK {k['kid']!r} is not usable: {exc}") from None
        return v

    @model_validator(mode="after")
    def _has_keys(self) -> TrustedIssuer:
        if self.jwks is None and self.jwks_url is None:
            raise ValueError(f"issuer {self.iss!r} needs 'jwks' or 'jwks_url'")
        return self

    def static_key(self, kid: str) -> dict[str, Any] | None:
        for k in (self.jwks or {}).get("keys", ()):
            if k.get("kid") == kid:
                key: dict[str, Any] = k  # a JWK (a JSON object) of the trust file
                return key
        return None


class TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: tuple[TrustedIssuer, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TrustFile:
        names = [i.iss for i in self.issuers]
        if len(set(names)) != len(names):
            raise ValueError("each iss may appear only once")
        return self

    def issuer(self, iss: str) -> TrustedIssuer | None:
        return next((i for i in self.issuers if i.iss == iss), None)


def issuer_refusal(trust: TrustFile | None, iss: str | None, server: str) -> str | None:
    """Why ``iss`` may not send its token to FHIR server ``server`` (normalised), if its
    trust-file entry binds it to other ``fhir_servers``."""
    from .prefetch import allowlist_refusal

    issuer = trust.issuer(iss) if trust is not None and iss is not None else None
    if issuer is None or not issuer.fhir_servers:
        return None
    return allowlist_refusal(server, issuer.fhir_servers, "the FHIR servers of this client")


def load_trust_file(path: str) -> TrustFile:
    """Read and validate a trust file; :class:`ConfigError` explains what is wrong."""
    data = read_structured_file(path)
    try:
        return TrustFile.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'trust file'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"trust file {path}: {detail}") from None


#: Registered claims and the JSON types they must have (RFC 7519 section 4.1).
_NUMBER_CLAIMS = ("exp", "iat", "nbf")
_STRING_CLAIMS = ("iss", "jti", "tenant", "sub")


def claim_type_errors(claims: dict[str, Any]) -> list[str]:
    """Names of claims present with the wrong JSON type (``exp`` as a string, ...)."""
    wrong = [
        name
        for name in _NUMBER_CLAIMS
        if name in claims
        and (
            isinstance(claims[name], bool)
            or not isinstance(claims[name], int | float)
            or not math.isfinite(claims[name])
            or abs(claims[name]) > 1e11  # beyond year 5000: not a time
        )
    ]
    wrong += [n for n in _STRING_CLAIMS if n in claims and not isinstance(claims[n], str)]
    aud = claims.get("aud")
    if "aud" in claims and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        wrong.append("aud")
    return wrong


class AuthError(Exception):
    """Authentication failed; ``reason`` is for the log only, never for the client."""

    def __init__(self, reason: str, iss: str | None = None, jti: str | None = None):
        self.reason, self.iss, self.jti = reason, iss, jti
        super().__init__(reason)


@dataclass(frozen=True)
class ClientIdentity:
    iss: str
    jti: str
    tenant: str | None = None


replay_table = Table(
    "jwt_replay",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)


class ReplayCache:
    """``jti`` values seen, kept until their token expires; shared by all workers."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._last_purge = 0.0

    def first_use(self, iss: str, jti: str, expires_at: float, now: float) -> bool:
        """Record the token; False if it was seen before (a replay)."""
        key = hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()
        with database_errors("checking the token for replay"), self.engine.begin() as conn:
            if now - self._last_purge > 60:
                conn.execute(delete(replay_table).where(replay_table.c.expires_at < now))
                self._last_purge = now
            try:
                with conn.begin_nested():
                    conn.execute(insert(replay_table).values(key=key, expires_at=expires_at))
            except IntegrityError:
                return False
        return True


class KeyStore:
    """JWKS per issuer: static keys, or fetched from ``jwks_url`` and cached. A failed
    refetch keeps the last good keys (and is not retried for ``RETRY_SECONDS``)."""

    MIN_REFRESH_SECONDS = 30.0
    RETRY_SECONDS = 5.0
    #: Largest JWKS document read.
    MAX_BYTES = 256 * 1024

    def __init__(self, client: httpx.AsyncClient, cache_seconds: int):
        self.client = client
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._failed_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, issuer: TrustedIssuer, kid: str) -> dict[str, Any] | None:
        static = issuer.static_key(kid)
        if static is not None or issuer.jwks_url is None:
            return static
        url = issuer.jwks_url
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            fetched_at, keys = self._cache.get(url, (0.0, {}))
            age = time.monotonic() - fetched_at
            stale = age > self.cache_seconds
            unknown_kid = kid not in keys and age > self.MIN_REFRESH_SECONDS
            failed_recently = time.monotonic() - self._failed_at.get(url, -1e9) < self.RETRY_SECONDS
            if (stale or unknown_kid) and not failed_recently:
                fresh = await self._fetch(url)
                if fresh is None:  # keep the last good keys
                    self._failed_at[url] = time.monotonic()
                else:
                    keys = fresh
                    self._cache[url] = (time.monotonic(), keys)
                    self._failed_at.pop(url, None)
        return keys.get(kid)

    async def _fetch(self, url: str) -> dict[str, dict[str, Any]] | None:
        """The keys at ``url`` by kid, or None if they cannot be had."""
        try:
            async with self.client.stream(
                "GET", url, headers={"Accept": "application/json"}
            ) as response:
                response.raise_for_status()
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self.MAX_BYTES:
                        raise ValueError("JWKS too large")
            body = json.loads(data)
        except (httpx.HTTPError, ValueError, RecursionError) as exc:
            log.warning(
                "jwks fetch failed; the keys known before are kept",
                extra={"event": "jwks_fetch_failed", "url": url, "error": type(exc).__name__},
            )
            return None
        keys = body.get("keys") if isinstance(body, dict) else None
        out = {}
        for k in keys or ():
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and "d" not in k:
                out[k["kid"]] = k
        return out


class Authenticator:
    """Verifies the ``Authorization: Bearer <JWT>`` of a request to a CDS endpoint."""

    def __init__(
        self, config: ServiceConfig, trust: TrustFile, keys: KeyStore, replay: ReplayCache
    ):
        self.config = config
        self.trust = trust
        self.keys = keys
        self.replay = replay

    async def authenticate(self, authorization: str | None, audience: str) -> ClientIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing bearer token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("token is not a JWS") from None
        if not isinstance(unverified, dict) or not isinstance(header, dict):
            raise AuthError("token is not a JWS")
        iss = unverified.get("iss") if isinstance(unverified.get("iss"), str) else None
        jti = unverified.get("jti") if isinstance(unverified.get("jti"), str) else None
        wrong = claim_type_errors(unverified)
        if wrong:
            raise AuthError(f"claims of the wrong JSON type: {', '.join(wrong)}", iss, jti)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            raise AuthError(f"algorithm {alg!r} not allowed", iss, jti)
        if str(header.get("typ", "")).upper() != "JWT":
            raise AuthError("typ is not JWT", iss, jti)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid", iss, jti)
        issuer = self.trust.issuer(iss) if iss else None
        if issuer is None:
            raise AuthError("issuer not trusted", iss, jti)
        # jku is never fetched: keys come from the trust file. An issuer with a jwks_url
        # must name exactly that URL; for an issuer with static keys only, jku is ignored.
        jku = header.get("jku")
        if jku is not None and issuer.jwks_url is not None and jku != issuer.jwks_url:
            raise AuthError("jku not on the allowlist", iss, jti)
        jwk = await self.keys.key(issuer, kid)
        if jwk is None:
            raise AuthError("unknown kid", iss, jti)
        if jwk.get("kty") != _KTY_FOR_ALG.get(alg[:2]) or jwk.get("alg", alg) != alg:
            raise AuthError("key does not fit the algorithm", iss, jti)
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer.iss,
                leeway=self.config.clock_skew,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except Exception as exc:  # a bad key or token is a refusal, whatever broke
            raise AuthError(f"rejected: {type(exc).__name__}", iss, jti) from None
        now = time.time()
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti missing", iss, jti)
        if exp - iat > self.config.max_token_lifetime:
            raise AuthError("token lifetime too long", iss, jti)
        tenant = claims.get("tenant")
        if issuer.tenants and tenant not in issuer.tenants:
            raise AuthError("tenant not allowed", iss, jti)
        assert iss is not None
        first = await run_in_threadpool(
            self.replay.first_use, iss, jti, float(exp) + self.config.clock_skew, now
        )
        if not first:
            raise AuthError("jti replayed", iss, jti)
        return ClientIdentity(iss=iss, jti=jti, tenant=tenant if isinstance(tenant, str) else None)
