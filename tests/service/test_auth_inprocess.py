"""``cds_backpain.service.auth`` in process: the rules the subprocess tests cannot reach.

Real keys, real PyJWT signatures, a real SQLite replay store; no server. Written against
the mutants the first mutation run left alive (docs/qa.md, section 6).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from service_support import ISS_A, Key, make_token
from sqlalchemy import select

from cds_backpain.service.auth import (
    Authenticator,
    AuthError,
    KeyStore,
    ReplayCache,
    TrustFile,
    replay_table,
)
from cds_backpain.service.config import ServiceConfig
from cds_backpain.service.db import open_database

AUD = "https://cds.example.org/cds-services/lbp-patient-view"
KEY = Key("k1", "ES384", ec.generate_private_key(ec.SECP384R1()))


def authenticator(tmp: Path, jwk: dict[str, Any]) -> tuple[Authenticator, Any]:
    engine = open_database(f"sqlite:///{tmp / 'auth.sqlite3'}")
    trust = TrustFile.model_validate({"issuers": [{"iss": ISS_A, "jwks": {"keys": [jwk]}}]})
    config = ServiceConfig(trust_file="unused", database_url="sqlite://")
    keys = KeyStore(httpx.AsyncClient(), cache_seconds=300)
    return Authenticator(config, trust, keys, ReplayCache(engine)), engine


def authenticate(auth: Authenticator, token: str) -> Any:
    return asyncio.run(auth.authenticate(f"Bearer {token}", AUD))


def test_a_key_declaring_another_algorithm_is_refused(tmp_path: Path):
    auth, _ = authenticator(tmp_path, {**KEY.jwk, "alg": "ES512"})
    with pytest.raises(AuthError, match="does not fit"):
        authenticate(auth, make_token(KEY, AUD))


def test_a_key_that_declares_no_algorithm_fits_its_key_type(tmp_path: Path):
    jwk = {k: v for k, v in KEY.jwk.items() if k != "alg"}
    auth, _ = authenticator(tmp_path, jwk)
    assert authenticate(auth, make_token(KEY, AUD)).iss == ISS_A


def test_a_token_is_remembered_until_it_expires_plus_the_clock_skew(tmp_path: Path):
    auth, engine = authenticator(tmp_path, KEY.jwk)
    exp = int(time.time()) + 300
    token = make_token(KEY, AUD, exp=exp)
    authenticate(auth, token)
    with engine.connect() as conn:
        (stored,) = conn.execute(select(replay_table.c.expires_at)).scalars()
    assert stored == exp + auth.config.clock_skew
    with pytest.raises(AuthError, match="replayed"):
        authenticate(auth, token)


def test_purging_expired_entries_keeps_the_live_ones(tmp_path: Path):
    cache = ReplayCache(open_database(f"sqlite:///{tmp_path / 'replay.sqlite3'}"))
    now = 1_000_000.0
    assert cache.first_use(ISS_A, "live", now + 3600, now)
    assert cache.first_use(ISS_A, "old", now + 10, now)
    later = now + 120  # past the purge interval: "old" has expired, "live" has not
    assert cache.first_use(ISS_A, "other", later + 3600, later)
    assert not cache.first_use(ISS_A, "live", later + 3600, later + 1)
    assert cache.first_use(ISS_A, "old", later + 3600, later + 2)  # purged, so new again


def test_a_trust_file_naming_one_issuer_twice_is_refused():
    issuer = {"iss": ISS_A, "jwks": {"keys": [KEY.jwk]}}
    with pytest.raises(ValidationError, match="only once"):
        TrustFile.model_validate({"issuers": [issuer, issuer]})


def test_a_trust_file_with_private_key_material_or_a_key_without_kid_is_refused():
    private = {**KEY.jwk, "d": "c2VjcmV0"}
    nameless = {k: v for k, v in KEY.jwk.items() if k != "kid"}
    for jwk, reason in ((private, "private key material"), (nameless, "needs a 'kid'")):
        with pytest.raises(ValidationError, match=reason):
            TrustFile.model_validate({"issuers": [{"iss": ISS_A, "jwks": {"keys": [jwk]}}]})
