"""Settings: read from the environment at the edges only, passed to the library explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cds_backpain import Settings, evaluate
from cds_backpain.emit.canonical import BASE
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.settings import applied, current

OTHER = "https://cds.hospital.example/fhir"
ENV = {
    "CDS_BACKPAIN_VALIDATE_OUTPUT": "1",
    "CDS_BACKPAIN_CANONICAL_BASE": OTHER,
    "CDS_BACKPAIN_ENGINE": "reference",
    "CDS_BACKPAIN_KNOWLEDGE": "/srv/knowledge",
}


def _example() -> Path:
    return load_examples()[0].path


def test_from_env_reads_the_four_variables_and_defaults_are_the_library_behaviour():
    assert Settings.from_env(ENV) == Settings(
        validate_output=True,
        canonical_base=OTHER,
        engine="reference",
        knowledge_root=Path("/srv/knowledge"),
    )
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"CDS_BACKPAIN_VALIDATE_OUTPUT": "yes"}).validate_output is False


def test_the_library_never_reads_the_environment(monkeypatch):
    for name, value in ENV.items():
        if name != "CDS_BACKPAIN_KNOWLEDGE":
            monkeypatch.setenv(name, value)
    assert current() == Settings()
    ev = evaluate(_example(), now=EXAMPLES_NOW)
    assert ev.engine == "durable"
    assert OTHER not in json.dumps(ev.cards)


def test_settings_passed_to_evaluate_choose_engine_and_canonical_base():
    plain = evaluate(_example(), now=EXAMPLES_NOW)
    ev = evaluate(
        _example(), now=EXAMPLES_NOW, settings=Settings(canonical_base=OTHER, engine="reference")
    )
    assert ev.engine == "reference"
    text = json.dumps([ev.cards, ev.bundle])
    assert f"{OTHER}/CodeSystem/rules" in text and BASE not in text
    # Rendered later, outside any ``applied``: still with the evaluation's settings.
    assert BASE in json.dumps(plain.cards) and OTHER not in json.dumps(plain.bundle)
    assert ev.to_json()["conclusions"] == plain.to_json()["conclusions"]


def test_applied_settings_are_in_force_only_inside():
    with applied(Settings(engine="reference")):
        assert current().engine == "reference"
        assert evaluate(_example(), now=EXAMPLES_NOW).engine == "reference"
    assert current() == Settings()


def test_the_command_line_honours_the_environment():
    env = {**os.environ, "CDS_BACKPAIN_ENGINE": "reference", "CDS_BACKPAIN_CANONICAL_BASE": OTHER}
    command = ["evaluate", str(_example()), "--now", EXAMPLES_NOW]
    r = subprocess.run(
        [sys.executable, "-m", "cds_backpain.cli", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["engine"] == "reference"
    assert f"{OTHER}/CodeSystem/rules" in json.dumps(out["cards"])


def test_no_module_of_the_package_writes_or_reads_these_variables_outside_settings():
    package = Path(__file__).resolve().parents[1] / "cds_backpain"
    for path in package.rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in ENV:
            assert f'"{name}"' not in text, f"{path.name} names {name}"
        assert "os.environ[" not in text or path.parts[-2:] == ("service", "commands.py"), path


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0001"])
def test_an_instant_near_the_end_of_the_calendar_is_invalid_input(now):
    from cds_backpain import InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        evaluate(_example(), now=now)
    issue = err.value.outcome["issue"][0]
    assert err.value.outcome["resourceType"] == "OperationOutcome"
    assert issue["expression"] == ["now"] and issue["code"] == "value"
