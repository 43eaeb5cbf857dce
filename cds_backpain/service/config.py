"""Service configuration: one validated model, read from a file, the environment and options.

Precedence (lowest first): defaults, ``--config FILE`` (YAML or JSON with the field names
below), the environment (``CDS_BACKPAIN_TRUST``), command-line options. The resolved
configuration reaches every uvicorn worker as JSON in ``CDS_BACKPAIN_SERVICE_CONFIG``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .limits import MAX_RELEVANT_RESOURCES

#: Environment variable carrying the resolved configuration to the workers.
CONFIG_ENV = "CDS_BACKPAIN_SERVICE_CONFIG"
#: Environment variable naming the trust file (same as ``--trust``).
TRUST_ENV = "CDS_BACKPAIN_TRUST"


class ConfigError(ValueError):
    """The service configuration (file, options or trust file) is not usable."""


class ServiceConfig(BaseModel):
    """Everything the HTTP service can be told; see docs/integration.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    #: Public base URL of the service (``https://cds.example.org``); JWT ``aud`` is checked
    #: against it plus the path, never against a URL built from request headers. Required
    #: unless insecure_dev.
    public_url: str | None = None
    #: Development only: no JWT checks, demo page on, ``http`` FHIR servers allowed;
    #: loopback interfaces only.
    insecure_dev: bool = False
    #: Trust file (JSON or YAML) of allowed CDS clients; required unless insecure_dev.
    trust_file: str | None = None
    #: JWS algorithms accepted from clients (never ``none`` or HMAC).
    algorithms: tuple[str, ...] = ("ES384", "RS384")
    #: Allowed clock skew for ``exp``/``iat`` (seconds).
    clock_skew: int = Field(60, ge=0, le=600)
    #: Longest accepted token lifetime ``exp - iat`` (seconds); bounds the replay cache.
    max_token_lifetime: int = Field(3600, ge=1, le=86400)
    #: How long a JWKS fetched from ``jwks_url`` is reused (seconds).
    jwks_cache_seconds: int = Field(300, ge=0)
    #: Browser origins allowed by CORS (``*`` for any; empty: no CORS headers). A list;
    #: each item may itself be a comma-separated list (``http://localhost:8080,
    #: http://127.0.0.1:8080``): ``localhost`` and ``127.0.0.1`` are different origins.
    cors_origins: tuple[str, ...] = ()
    #: Largest accepted request body (bytes); larger ones get 413.
    max_body_bytes: int = Field(5_000_000, ge=1024)
    #: Seconds a request body may take to arrive in full; slower ones get 408.
    body_timeout: float = Field(30.0, gt=0, le=600)
    #: Most resources the rules read in one call; more get 413 (see ``limits``).
    max_relevant_resources: int = Field(MAX_RELEVANT_RESOURCES, ge=1)
    #: SQLAlchemy URL of the feedback store (also holds the JWT replay cache).
    database_url: str = "sqlite:///cds_backpain_service.sqlite3"
    #: FHIR fallback: total deadline of one fetch, body included (seconds), pages and
    #: resources per prefetch key.
    fhir_timeout: float = Field(5.0, gt=0, le=120)
    fhir_max_pages: int = Field(50, ge=1)
    fhir_max_resources: int = Field(10_000, ge=1)
    #: Total deadline of all fetches of one hook call (seconds).
    fhir_call_deadline: float = Field(15.0, gt=0, le=600)
    #: Largest FHIR response body read (bytes, counted while streaming); larger: 412.
    fhir_max_response_bytes: int = Field(20_000_000, ge=1024)
    #: Connections open at once to one FHIR server (of ``fhir_max_connections`` in all), so
    #: one slow server cannot take every connection.
    fhir_max_connections_per_server: int = Field(8, ge=1)
    fhir_max_connections: int = Field(64, ge=1)
    #: Accept ``http://`` FHIR servers (always on with insecure_dev).
    allow_http_fhir: bool = False
    #: If non-empty, only FHIR servers whose base starts with one of these are contacted.
    fhir_server_allowlist: tuple[str, ...] = ()
    #: PAMA: also put rating systemActions under ``extension.systemActions`` (sandbox).
    pama_extension_mirror: bool = True
    #: PAMA: CMS G-code of the decision support mechanism (G1011 = qualified CDSM not
    #: otherwise specified).
    pama_qcdsm: str = "G1011"
    #: PAMA: optional URI of the appropriate use criteria applied.
    pama_auc_applied: str | None = None
    #: Serve the demo page at ``/`` and ``/demo`` (default: on with insecure_dev only).
    demo: bool | None = None
    #: Canonical base of the URLs in cards and FHIR output (CodeSystems, extensions),
    #: e.g. ``https://cds.example.org/fhir`` so that they resolve to this service's
    #: ``/fhir/...`` endpoints. Default: the knowledge base's own base.
    canonical_base: str | None = None
    #: Fixed evaluation instant (demos and tests); default: the time of each call.
    now: str | None = None
    log_level: str = "info"
    #: Serve HTTPS directly (PEM files); usual deployments terminate TLS at a proxy instead.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @field_validator("algorithms")
    @classmethod
    def _safe_algorithms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
        bad = [a for a in v if a not in allowed]
        if bad or not v:
            raise ValueError(
                f"unsupported JWS algorithms {bad or v}: use asymmetric ones (ES384, RS384)"
            )
        return v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_origins(cls, v: Any) -> Any:
        from .cors import split_origins

        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple) and all(isinstance(o, str) for o in v):
            return split_origins(v)
        return v

    @field_validator("public_url", "canonical_base")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return v.rstrip("/")

    @property
    def demo_enabled(self) -> bool:
        return self.insecure_dev if self.demo is None else self.demo

    @property
    def http_fhir_allowed(self) -> bool:
        return self.allow_http_fhir or self.insecure_dev

    def to_env(self) -> str:
        return self.model_dump_json()


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_serving(config: ServiceConfig) -> None:
    """ConfigError unless the configuration is safe to serve: production (not insecure_dev)
    needs ``public_url`` (the JWT audience is never taken from request headers), and
    insecure_dev binds to a loopback interface only."""
    if config.insecure_dev:
        if config.host not in LOOPBACK_HOSTS and not config.host.startswith("127."):
            raise ConfigError(
                f"--insecure-dev serves only on loopback (127.0.0.1, ::1), not on {config.host}"
            )
        return
    if not config.public_url:
        raise ConfigError(
            "no public URL: pass --public-url https://HOST[/PATH] (the URL CDS clients call; "
            "JWT aud is checked against it), or --insecure-dev for development"
        )


def read_structured_file(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON or YAML file (YAML is a superset of JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p} is not valid JSON/YAML: {exc}") from None


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServiceConfig:
    """Resolve the configuration: defaults < file < environment < ``overrides``."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if config_file is not None:
        loaded = read_structured_file(config_file)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file}: expected a mapping of settings")
        data.update(loaded)
    if env.get(TRUST_ENV):
        data["trust_file"] = env[TRUST_ENV]
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return ServiceConfig(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def config_from_env(environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """The configuration the ``serve`` command handed to this worker."""
    env = os.environ if environ is None else environ
    raw = env.get(CONFIG_ENV)
    if raw is None:
        return load_config(environ=env)
    try:
        return ServiceConfig.model_validate_json(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
    )
