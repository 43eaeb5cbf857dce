"""``python -m build`` gives a wheel and an sdist that install and work outside the checkout.

Built without isolation (hatchling comes with the ``dev`` extra) so the test needs no
network; each artefact is installed without dependencies into its own directory, and
the venv's dependencies are put behind it on ``PYTHONPATH``.
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import cds_backpain

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel, sdist = list(out.glob("cds_backpain-*.whl")), list(out.glob("cds_backpain-*.tar.gz"))
    assert len(wheel) == 1 and len(sdist) == 1
    return {"wheel": wheel[0], "sdist": sdist[0]}


def _install(artefact: Path, target: Path) -> dict[str, str]:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"),
            *("--target", str(target), str(artefact)),
        ],
        check=True,
        timeout=600,
    )
    env = dict(os.environ, PYTHONPATH=f"{target}{os.pathsep}{sysconfig.get_paths()['purelib']}")
    env.pop("CDS_BACKPAIN_KNOWLEDGE", None)
    return env


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_the_built_package_installs_and_verifies_its_knowledge(dist, kind, tmp_path):
    target = tmp_path / "site"
    env = _install(dist[kind], target)
    r = subprocess.run(
        [sys.executable, "-m", "cds_backpain.cli", "knowledge", "verify"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "knowledge verified" in r.stdout
    assert f"at {target / 'cds_backpain' / '_knowledge'}" in r.stdout
    code = (
        "import cds_backpain; from cds_backpain.examples import load_examples;"
        "ex = [e for e in load_examples() if 'cauda' in e.name][0];"
        "ev = cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now);"
        "print(cds_backpain.__file__, ev.urgency)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    where, urgency = r.stdout.split()
    assert where.startswith(str(target)) and urgency == "emergency"


def test_the_wheel_carries_its_metadata_types_schema_and_licence(dist):
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(whl.read(meta_name))
    assert {"cds_backpain/py.typed", "cds_backpain/schemas/evaluation.schema.json"} <= names
    assert "cds_backpain/batch/spark_submit.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["Version"] == cds_backpain.__version__
    assert meta["License-Expression"] == "Apache-2.0" and meta["License-File"] == "LICENSE"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    extras = set(meta.get_all("Provides-Extra"))
    assert {"qa", "dev", "spark", "browser", "fuzz"} <= extras
    requires = meta.get_all("Requires-Dist")
    assert not any(r.startswith("hypothesis") and "extra" not in r for r in requires)


def test_the_sdist_carries_the_licence_changelog_and_tests(dist):
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
    assert "tests/test_build.py" in names and "knowledge/rules" in {
        n.rsplit("/", 1)[0] for n in names if n.startswith("knowledge/rules/")
    }


def test_the_licence_is_the_apache_2_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License\n                           Version 2.0")
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 190
