"""The durable-rules 2.0.28 engine, with every measured hazard contained.

:class:`DurableEngine` runs :class:`~cds_backpain.engine.compiled.CompiledRules` through
durable-rules' C Rete and returns exactly what
:class:`~cds_backpain.engine.reference.ReferenceEngine` returns.
The hazards we measured in durable-rules 2.0.28 (numbered D1-D11 here, in the tests and in
``docs/architecture.md``) and how each is contained:

* D1 ``delete_state`` crashes when no action ever ran in the session: every
  ruleset carries the ``$init`` guard rule, so one action always runs. If none ran
  (or the C call failed), the state is never touched again: the session id is
  retired and the ruleset dropped, and :class:`~cds_backpain.EngineError` is raised.
* D2 ``Host.assert_facts`` runs no action if one fact matches nothing: the batch
  goes straight to ``durable_rules_engine.assert_facts`` and activations are run
  synchronously by ``Ruleset.do_actions`` into a completion box.
* D3 ``$not`` is order-sensitive: never used; absent facts are precomputed
  (:mod:`cds_backpain.engine.prepare`).
* D4 facts and sessions are identified by a 32-bit hash only: input ``id`` fields
  never reach the engine; every asserted fact gets an integer ``id`` from a table
  whose decimal strings have pairwise distinct hashes (also distinct from every
  session's state id ``sid-<sid>``), so two facts are never merged or dropped.
  Session ids are fixed per thread, drawn from a small recycled pool, and at most
  one session is alive at a time (``run`` is serialised).
* D5 the stock dispatcher threads steal activations: ``Host._run`` is disabled.
* D6/D7 numbers in exponent form and wide facts truncate a batch: only integers
  are sent (see :mod:`.encode`), text goes through :mod:`.safe_json`, and
  a fact wider than 250 properties is refused, and so are NaN and infinities in
  any attribute a rule tests.
* D8/D9 limits (equality fan-out, range tests, patterns per rule, alpha fan-out)
  are checked when rules are compiled, before durable-rules sees them.
* D10 the GIL is never released: ``run`` holds a lock; use one engine per process.
* Swallowed action exceptions (``state["exception"]``), a missing completion
  (durable drops an action after 10 s of *local* clock time) and C errors all
  become :class:`~cds_backpain.EngineError`; a partial result is never returned.

Operations: each evaluation allocates ~1 MB of zeroed state. Set
``MALLOC_TOP_PAD_=67108864`` (or ``MALLOC_TRIM_THRESHOLD_``, or use jemalloc) in
the environment of services and batch jobs; with glibc defaults each evaluation
page-faults and runs ~3x slower. This module does not set it (it must be in the
environment before the interpreter starts). Compile rules before forking workers.

durable-rules cannot be imported on Python 3.13+ (D11); :mod:`cds_backpain.engine.select`
then falls back to the reference engine.
"""

from __future__ import annotations

import copy
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine as dre
from durable import engine as _durable

from ..._errors import EngineError
from ..compiled import CompiledRules, Firings
from ..keys import ConcludedConcept
from .encode import DurablePlan, fnv32
from .plan import compile_plan
from .safe_json import dumps

__all__ = ["DurableEngine"]

#: Compiled rulesets kept per engine (least recently used are deleted).
RULESET_CACHE_SIZE = 8
_GUARD = {"all": [{"m": {"$and": [{"$s": 1}, {"$nex": {"init": 1}}]}}], "run": "init"}


class _Identities:
    """Fact ids and session ids whose 32-bit hashes never collide (D4)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._message_hashes: set[int] = set()  # fact ids and state ids share one index
        self._session_hashes: set[int] = set()
        self.ids: list[int] = []  # position -> fact id
        self.position: dict[int, int] = {}  # fact id -> position
        self._next_id = 0
        self._next_sid = 0

    def ensure(self, n: int) -> list[int]:
        if len(self.ids) < n:
            with self._lock:
                while len(self.ids) < n:
                    candidate = self._next_id
                    self._next_id += 1
                    h = fnv32(str(candidate))
                    if h in self._message_hashes:
                        continue
                    self._message_hashes.add(h)
                    self.position[candidate] = len(self.ids)
                    self.ids.append(candidate)
        return self.ids

    def new_sid(self) -> str:
        with self._lock:
            while True:
                sid = f"w{self._next_sid}"
                self._next_sid += 1
                state_hash, sid_hash = fnv32(f"sid-{sid}"), fnv32(sid)
                if state_hash in self._message_hashes or sid_hash in self._session_hashes:
                    continue
                self._message_hashes.add(state_hash)
                self._session_hashes.add(sid_hash)
                return sid


class _Lease:
    """A thread's session id; returned to the pool when the thread ends."""

    __slots__ = ("__weakref__", "pool", "retired", "sid")

    def __init__(self, pool: _Sessions, sid: str):
        self.pool, self.sid, self.retired = pool, sid, False

    def __del__(self) -> None:
        if not self.retired:
            self.pool.give_back(self.sid)


class _Sessions:
    """Fixed per-thread session ids from a pool bounded by the number of threads."""

    def __init__(self, identities: _Identities):
        self._identities = identities
        self._local = threading.local()
        self._lock = threading.Lock()
        self._free: list[str] = []
        self.known: set[str] = set()
        self.leased: weakref.WeakSet[_Lease] = weakref.WeakSet()

    def current(self) -> str:
        lease = getattr(self._local, "lease", None)
        if lease is None:
            with self._lock:
                sid = self._free.pop() if self._free else self._identities.new_sid()
                self.known.add(sid)
            lease = self._local.lease = _Lease(self, sid)
            self.leased.add(lease)
        return lease.sid

    def give_back(self, sid: str) -> None:
        with self._lock:
            self._free.append(sid)

    def retire_current(self) -> None:
        """Never reuse this thread's session id again (its state may be unsafe to touch)."""
        lease = getattr(self._local, "lease", None)
        if lease is not None:
            lease.retired = True
            self._local.lease = None

    def retire_all(self) -> None:
        for lease in list(self.leased):
            lease.retired = True
        self._local = threading.local()


class _QuietHost(_durable.Host):  # type: ignore[misc]  # durable-rules is untyped (Any)
    """A Host without dispatcher threads (D5) whose actions are resolved by name."""

    def __init__(self, resolve: Callable[[str], Callable[[Any], None]]):
        self._resolve = resolve
        super().__init__()

    def _run(self) -> None:  # D5: no background Timer threads
        pass

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._resolve(action_name)


@dataclass
class _Entry:
    plan: DurablePlan
    ruleset: Any
    source: CompiledRules


@dataclass
class _Call:
    """What one evaluation's actions write to (never shared between calls)."""

    entry: _Entry
    sid: str
    keys: list[str]
    support: dict[int, set[int]] = field(default_factory=dict)
    concluded: set[str] = field(default_factory=set)
    actions: int = 0
    errors: list[str] = field(default_factory=list)
    dropped: bool = False


class DurableEngine:
    """Runs compiled rules in durable-rules 2.0.28 (one shared instance per process)."""

    name = "durable"

    def __init__(self, cache_size: int = RULESET_CACHE_SIZE):
        self._lock = threading.Lock()
        self._cache_size = cache_size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._names = 0
        self._identities = _Identities()
        self._sessions = _Sessions(self._identities)
        self._call: _Call | None = None
        self._host = _QuietHost(self._action)
        self._leaked = 0
        ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            engine = ref()
            if engine is not None:
                engine._after_fork()

        os.register_at_fork(after_in_child=after_fork_in_child)

    # ------------------------------------------------------------------ public

    def run(self, rules: CompiledRules, facts: Sequence[dict[str, object]]) -> Firings:
        """Rule id -> keys of the facts that supported it (see :mod:`..compiled`)."""
        with self._lock:
            entry = self._entry(rules)
            sid = self._sessions.current()
            ids = self._identities.ensure(len(facts) + entry.plan.max_conclusions)
            rows, keys = entry.plan.encode(facts, sid, ids)
            if not rows:
                return {}
            try:
                text = dumps(rows)
            except ValueError as exc:
                raise EngineError(f"facts cannot be serialised: {exc}") from None
            call = _Call(entry, sid, keys)
            self._evaluate(call, text)
            return self._firings(call)

    def live_sessions(self) -> int:
        """How many sessions durable-rules holds in this engine's rulesets (0 between runs)."""
        with self._lock:
            live = 0
            for entry in self._entries.values():
                for sid in self._sessions.known:
                    try:
                        dre.get_state(entry.ruleset._handle, sid)
                    except dre.error:
                        continue
                    live += 1
            return live

    def ruleset_definition(self, rules: CompiledRules) -> dict[str, dict[str, object]]:
        """The durable-rules ruleset ``rules`` compile to (for inspection and tests)."""
        with self._lock:
            return copy.deepcopy(self._entry(rules).plan.definition)

    # ------------------------------------------------------------------ rulesets

    def _entry(self, rules: CompiledRules) -> _Entry:
        entry = self._entries.get(rules.digest)
        if entry is not None:
            if entry.source is not rules:
                if entry.source.rules != rules.rules:
                    raise EngineError(f"two different rule bases share digest {rules.digest!r}")
                entry.source = rules
            self._entries.move_to_end(rules.digest)
            return entry
        plan = compile_plan(rules)
        self._names += 1
        name = f"cds-{str(rules.digest)[:16]}-{self._names}"
        definition: dict[str, dict[str, object]] = {**plan.definition, "$init": dict(_GUARD)}
        definition = {k: {**v} for k, v in definition.items()}  # set_rulesets mutates its input
        try:
            self._host.register_rulesets({name: definition})
        except Exception as exc:
            raise EngineError(f"durable-rules refused the rule base: {exc}") from None
        entry = _Entry(plan, self._host.get_ruleset(name), rules)
        self._entries[rules.digest] = entry
        while len(self._entries) > self._cache_size:
            _, old = self._entries.popitem(last=False)
            self._unregister(old, delete=True)
        return entry

    def _unregister(self, entry: _Entry, *, delete: bool) -> None:
        name = entry.ruleset._name
        self._host._ruleset_directory.pop(name, None)
        if entry.ruleset in self._host._ruleset_list:
            self._host._ruleset_list.remove(entry.ruleset)
        if delete:  # only with no live session: deleteRuleset frees no state contents
            dre.delete_ruleset(entry.ruleset._handle)
        else:
            self._leaked += 1

    def _abandon(self, call: _Call) -> None:
        """The session's state may be corrupt: never touch it or its ruleset again."""
        self._sessions.retire_current()
        for digest, entry in list(self._entries.items()):
            if entry is call.entry:
                del self._entries[digest]
                self._unregister(entry, delete=False)

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, call: _Call, text: str) -> None:
        ruleset = call.entry.ruleset
        box: list[tuple[Any, Any]] = []
        self._call = call
        asserted = False
        failure: BaseException | None = None
        try:
            code, offset = dre.assert_facts(ruleset._handle, text)
            asserted = True
            call.dropped = code == 2
            ruleset.do_actions(offset, lambda err, state: box.append((err, state)))
        except BaseException as exc:
            failure = exc
        finally:
            self._call = None
            if asserted and call.actions:
                try:
                    ruleset.delete_state(call.sid)
                except Exception as exc:
                    self._abandon(call)
                    failure = failure or exc
            else:
                self._abandon(call)
        if failure is not None:
            if not isinstance(failure, Exception):
                raise failure
            raise EngineError(f"durable-rules failed: {failure}") from failure
        if not call.actions:
            raise EngineError("durable-rules ran no action (not even the session guard)")
        if not box:
            raise EngineError("durable-rules did not complete the evaluation")
        err, state = box[0]
        if err:
            raise EngineError(f"durable-rules failed: {err}")
        if call.errors:
            raise EngineError(f"a rule action failed: {call.errors[0]}")
        if state and state.get("exception"):
            raise EngineError(f"a rule action failed: {state['exception']}")
        if call.dropped:
            raise EngineError("durable-rules dropped a fact as a duplicate")

    def _firings(self, call: _Call) -> Firings:
        keys, position = call.keys, self._identities.position
        rule_ids = call.entry.plan.rule_ids
        return {
            rule_ids[i]: frozenset(keys[position[fid]] for fid in ids)
            for i, ids in sorted(call.support.items())
        }

    # ------------------------------------------------------------------ actions

    def _action(self, name: str) -> Callable[[Any], None]:
        if name == "init":
            return self._guard
        kind, _, index = name.partition(":")
        if kind != "fire" or not index.isdigit():
            raise EngineError(f"unknown action {name!r}")
        rule = int(index)

        def fire(c: Any) -> None:
            self._fire(c, rule)

        return fire

    def _current(self, c: Any) -> _Call:
        call = self._call
        if call is None or c.s._d.get("sid") != call.sid:
            raise RuntimeError("activation outside its evaluation")
        call.actions += 1
        return call

    def _guard(self, c: Any) -> None:
        self._current(c)
        c.s._d["init"] = 1  # D1: the $nex guard stops it re-firing

    def _fire(self, c: Any, rule: int) -> None:
        call = self._current(c)
        try:
            self._on_fire(call, rule, c._m)
        except BaseException as exc:
            call.errors.append(f"{type(exc).__name__}: {exc}")
            raise

    def _on_fire(self, call: _Call, rule: int, message: Mapping[str, Mapping[str, Any]]) -> None:
        """Record one firing (one combination of facts) and assert its conclusion once."""
        support = call.support.get(rule)
        if support is None:
            support = call.support[rule] = set()
        for fact in message.values():
            support.add(fact["id"])
        plan = call.entry.plan
        conclusion = plan.conclusions[rule]
        if conclusion is None or conclusion[0] in call.concluded:
            return
        concept, cid = conclusion
        call.concluded.add(concept)
        row: dict[str, object] = {
            "id": self._identities.ids[len(call.keys)],
            "sid": call.sid,
            "kind": plan.conclusion_kind,
        }
        if cid is not None:
            row["concept"] = cid
        call.keys.append(str(ConcludedConcept(concept)))
        code, _ = dre.assert_fact(call.entry.ruleset._handle, dumps(row))
        if code == 2:
            call.dropped = True

    # ------------------------------------------------------------------ fork

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._identities._lock = threading.Lock()
        self._sessions._lock = threading.Lock()
        self._call = None
        self._sessions.retire_all()  # a session alive in another parent thread stays untouched
