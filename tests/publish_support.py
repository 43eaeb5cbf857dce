"""Helpers of the knowledge-lifecycle tests: knowledge copies with one edit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from cds_backpain.kb.loader import knowledge_root


def knowledge_copy(dst: Path, **parameters: Any) -> Path:
    """A copy of knowledge/ at ``dst`` with the given parameter values changed."""
    shutil.copytree(knowledge_root(), dst)
    if parameters:
        path = dst / "parameters.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, value in parameters.items():
            data["parameters"][name]["value"] = value
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dst
