"""Feedback on cards: validation, storage, and the per-rule report.

Every card the service returns is recorded (uuid, service, rule, conclusion) with the
client it was issued to (a hash of the JWT ``iss`` and ``tenant``), so that feedback,
which names only the card's uuid, can be attributed to the rule behind it.

* Feedback on a card issued to another client is refused (403); feedback on a card this
  service never issued is kept apart (``(card not issued by this service)``) and may not
  accept suggestions (400), nor may any item accept a suggestion its card never had.
* One outcome counts once per card, client and accepted suggestions: the same override
  sent a hundred times (other timestamps, other comments) is stored once.

No patient data is stored: cards are recorded without their text or patient.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, DateTime, String, Table, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .db import database_errors, metadata
from .errors import ServiceError, issue, operation_outcome
from .schema import problems

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

#: Longest card or suggestion uuid accepted (the columns are String(64)).
MAX_ID = 64
#: Most feedback items in one request (a clinician's session sends a handful).
MAX_ITEMS = 1000

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("rule", String(128), nullable=True),
    Column("conclusion", String(128), nullable=True),
    Column("indicator", String(16), nullable=False),
    Column("suggestions", JSON, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

#: Which client each card was issued to (one card uuid may reach several clients: uuids
#: are deterministic per patient and conclusion).
card_clients = Table(
    "card_clients",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("client", String(64), primary_key=True),
)

feedback_table = Table(
    "feedback",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False, index=True),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_system", Text, nullable=True),
    Column("override_code", Text, nullable=True),
    Column("override_display", Text, nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("client", String(64), nullable=True),
)

UNKNOWN_RULE = "(card not issued by this service)"


@dataclass(frozen=True)
class CardRecord:
    uuid: str
    service_id: str
    rule: str | None
    conclusion: str | None
    indicator: str
    suggestions: tuple[str, ...] = ()


def client_key(iss: str | None, tenant: str | None = None) -> str:
    """The client a card is issued to: a hash of ``iss`` and ``tenant`` ("" unauthenticated)."""
    if iss is None:
        return ""
    return hashlib.sha256(f"{iss}\x00{tenant or ''}".encode()).hexdigest()


def validate_feedback(document: Any) -> list[dict[str, Any]]:
    """The feedback items of a body, or 400 naming what is malformed."""
    found = problems("FeedbackRequest", document)
    if not found and len(document["feedback"]) > MAX_ITEMS:
        found.append(("feedback", f"at most {MAX_ITEMS} feedback items per request"))
    if not found:
        for i, item in enumerate(document["feedback"]):
            try:
                _utc(item["outcomeTimestamp"])
            except (ValueError, OverflowError):
                found.append((f"feedback[{i}].outcomeTimestamp", "not a valid date-time"))
            if len(item["card"]) > MAX_ID:
                found.append(
                    (f"feedback[{i}].card", f"a card uuid has at most {MAX_ID} characters")
                )
            for j, s in enumerate(item.get("acceptedSuggestions") or ()):
                if len(s["id"]) > MAX_ID:
                    found.append(
                        (
                            f"feedback[{i}].acceptedSuggestions[{j}].id",
                            f"a suggestion uuid has at most {MAX_ID} characters",
                        )
                    )
    if found:
        raise ServiceError(
            400, operation_outcome(issue(m, code="invalid", expression=[loc]) for loc, m in found)
        )
    return list(document["feedback"])


def _utc(timestamp: str) -> str:
    value = datetime.fromisoformat(timestamp.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item_id(service_id: str, client: str, item: dict[str, Any]) -> str:
    """One outcome per service, client, card, outcome and accepted suggestions (not the
    timestamp or comment: the same override sent twice counts once)."""
    accepted = sorted({s["id"] for s in item.get("acceptedSuggestions") or ()})
    key = [service_id, client, item["card"], item["outcome"], accepted]
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()


class FeedbackStore:
    """Issued cards and feedback in a SQL database."""

    #: Card uuids this process already stored (bounded): a chart reopened for the same
    #: patient issues the same deterministic uuids, and needs no database round trip.
    RECENT_MAX = 50_000

    def __init__(self, engine: Engine):
        self.engine = engine
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_lock = threading.Lock()

    @staticmethod
    def _recent_key(client: str, uuid: str) -> str:
        return f"{client}\x00{uuid}"

    def _remember(self, uuids: Iterable[str]) -> None:
        with self._recent_lock:
            for u in uuids:
                self._recent[u] = None
                self._recent.move_to_end(u)
            while len(self._recent) > self.RECENT_MAX:
                self._recent.popitem(last=False)

    def unrecorded(self, cards: Iterable[CardRecord], client: str = "") -> list[CardRecord]:
        """The cards this process has not stored yet for ``client`` (no database access:
        safe on the event loop, so a repeated chart opening needs no thread)."""
        with self._recent_lock:
            return [c for c in cards if self._recent_key(client, c.uuid) not in self._recent]

    def record_cards(self, cards: Iterable[CardRecord], client: str = "") -> None:
        """Remember issued cards and that ``client`` had them (uuids are deterministic:
        a card seen before is kept once); 503 if the database cannot be written."""
        with database_errors("recording the issued cards"):
            self._record_cards(list(cards), client)

    def _record_cards(self, cards: list[CardRecord], client: str) -> None:
        rows = {
            c.uuid: {
                "card_uuid": c.uuid,
                "service_id": c.service_id,
                "rule": c.rule,
                "conclusion": c.conclusion,
                "indicator": c.indicator,
                "suggestions": list(c.suggestions),
                "issued_at": datetime.now(UTC),
            }
            for c in cards
        }
        with self._recent_lock:
            rows = {
                k: v for k, v in rows.items() if self._recent_key(client, k) not in self._recent
            }
        if not rows:
            return
        with self.engine.begin() as conn:
            known = set(
                conn.execute(
                    select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(rows))
                ).scalars()
            )
            had = set(
                conn.execute(
                    select(card_clients.c.card_uuid).where(
                        card_clients.c.card_uuid.in_(rows), card_clients.c.client == client
                    )
                ).scalars()
            )
            for key, row in rows.items():
                if key not in known:
                    _insert_once(conn, issued_cards, row)
                if key not in had:
                    _insert_once(conn, card_clients, {"card_uuid": key, "client": client})
        self._remember(self._recent_key(client, k) for k in rows)

    def check(self, client: str, items: list[dict[str, Any]]) -> None:
        """403 if an item is about a card issued to other clients only; 400 if an item
        accepts a suggestion its card never had (or a card this service never issued)."""
        uuids = {item["card"] for item in items}
        with database_errors("reading the issued cards"), self.engine.connect() as conn:
            suggestions = {
                r.card_uuid: set(r.suggestions or ())
                for r in conn.execute(
                    select(issued_cards.c.card_uuid, issued_cards.c.suggestions).where(
                        issued_cards.c.card_uuid.in_(uuids)
                    )
                )
            }
            clients: dict[str, set[str]] = defaultdict(set)
            for r in conn.execute(
                select(card_clients.c.card_uuid, card_clients.c.client).where(
                    card_clients.c.card_uuid.in_(uuids)
                )
            ):
                clients[r.card_uuid].add(r.client)
        foreign, unknown = [], []
        for i, item in enumerate(items):
            card = item["card"]
            # A card recorded before clients were (no row at all) is attributed, not refused.
            if clients.get(card) and client not in clients[card]:
                foreign.append(
                    issue(
                        "this card was issued to another client; feedback on it is refused",
                        code="forbidden",
                        expression=[f"feedback[{i}].card"],
                    )
                )
            for j, s in enumerate(item.get("acceptedSuggestions") or ()):
                if s["id"] not in suggestions.get(card, ()):
                    unknown.append(
                        issue(
                            "the card had no suggestion with this id"
                            if card in suggestions
                            else "the card was not issued by this service: no suggestion of "
                            "it can be accepted",
                            expression=[f"feedback[{i}].acceptedSuggestions[{j}].id"],
                        )
                    )
        if foreign:
            raise ServiceError(403, operation_outcome(foreign[:10]))
        if unknown:
            raise ServiceError(400, operation_outcome(unknown[:10]))

    def store(
        self, service_id: str, items: Iterable[dict[str, Any]], client: str = ""
    ) -> tuple[int, int]:
        """Check and store feedback items from ``client``; returns (stored, duplicates)."""
        items = list(items)
        self.check(client, items)
        with database_errors("storing feedback"):
            return self._store(service_id, items, client)

    def _store(self, service_id: str, items: list[dict[str, Any]], client: str) -> tuple[int, int]:
        stored = duplicates = 0
        now = datetime.now(UTC)
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            row = {
                "id": _item_id(service_id, client, item),
                "client": client,
                "service_id": service_id,
                "card_uuid": item["card"],
                "outcome": item["outcome"],
                "accepted_suggestions": [s["id"] for s in item.get("acceptedSuggestions") or ()],
                "override_system": reason.get("system"),
                "override_code": reason.get("code"),
                "override_display": reason.get("display"),
                "user_comment": (item.get("overrideReason") or {}).get("userComment"),
                "outcome_timestamp": _utc(item["outcomeTimestamp"]),
                "received_at": now,
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(feedback_table).values(**row))
                stored += 1
            except IntegrityError:
                duplicates += 1
        return stored, duplicates

    def report(self, knowledge: Knowledge | None = None) -> list[RuleReport]:
        """Acceptance and override rates per rule, most issued first.

        Each card counts once per rule, by its latest outcome (a card accepted, then
        overridden, is overridden), so the rates of a rule never add up beyond 100 %;
        cards that had both outcomes are counted in ``changed``. Override reasons are
        shown by their display (the client's, else the CodeSystem's of ``knowledge``,
        default: the knowledge of the settings in force).
        """
        from ..kb.loader import load_knowledge

        kb = knowledge if knowledge is not None else load_knowledge()
        with self.engine.connect() as conn:
            cards = {
                r.card_uuid: r
                for r in conn.execute(select(issued_cards.c.card_uuid, issued_cards.c.rule))
            }
            fb = conn.execute(
                select(
                    feedback_table.c.card_uuid,
                    feedback_table.c.outcome,
                    feedback_table.c.override_code,
                    feedback_table.c.override_display,
                    feedback_table.c.override_system,
                    feedback_table.c.outcome_timestamp,
                )
            ).all()
        reports: dict[str, RuleReport] = {}
        for card in cards.values():
            rule = card.rule or "(no rule)"
            reports.setdefault(rule, RuleReport(rule)).issued += 1
        latest: dict[tuple[str, str], tuple[str, str]] = {}
        seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in fb:
            issued = cards.get(row.card_uuid)
            rule = (issued.rule or "(no rule)") if issued else UNKNOWN_RULE
            rep = reports.setdefault(rule, RuleReport(rule))
            rep.feedback += 1
            key = (rule, row.card_uuid)
            seen[key].add(row.outcome)
            if key not in latest or row.outcome_timestamp >= latest[key][0]:
                latest[key] = (row.outcome_timestamp, row.outcome)
            if row.outcome == "overridden" and (row.override_code or row.override_display):
                rep.reasons[reason_display(row, kb)] += 1
        for (rule, _card), (_, outcome) in latest.items():
            rep = reports[rule]
            if outcome == "accepted":
                rep.accepted += 1
            elif outcome == "overridden":
                rep.overridden += 1
        for (rule, _card), outcomes in seen.items():
            if {"accepted", "overridden"} <= outcomes:
                reports[rule].changed += 1
        return sorted(reports.values(), key=lambda r: (-r.issued, r.rule))


def reason_display(row: Any, knowledge: Knowledge) -> str:
    """An override reason as a clinician reads it: the display the client sent, else
    the display of its code in ``knowledge``'s CodeSystem, else the code."""
    if row.override_display:
        return str(row.override_display)
    from ..emit.canonical import unbase

    system = unbase(str(row.override_system or ""))
    known = knowledge.displays.get(system, {})
    return known.get(str(row.override_code), str(row.override_code))


def _insert_once(conn: Any, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` unless another worker inserted the same key meanwhile."""
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
    except IntegrityError:
        pass


@dataclass
class RuleReport:
    rule: str
    issued: int = 0
    feedback: int = 0
    #: Cards whose latest outcome is accepted / overridden (each card counts once).
    accepted: int = 0
    overridden: int = 0
    #: Cards that were both accepted and overridden (counted above by the latest).
    changed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.issued if self.issued else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.issued if self.issued else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "issued": self.issued,
            "feedback": self.feedback,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "changed": self.changed,
            "acceptance_rate": self.acceptance_rate,
            "override_rate": self.override_rate,
            "override_reasons": dict(self.reasons.most_common()),
        }
