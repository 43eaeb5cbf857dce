"""Who may import whom inside ``cds_backpain`` (docs/architecture.md, "Layering").

Every import of every module counts: module level, inside functions and under
``TYPE_CHECKING``. A component may import its own modules and the components of lower
layers, never a component of its own layer or above. Today's violations are listed in
``KNOWN_VIOLATIONS`` as allowed exceptions to be removed; a new one fails here, and so does an
exception that is no longer needed (remove it from the list when the violation goes).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cds_backpain"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

#: Bottom to top. Components of one layer are independent of each other.
LAYERS: list[set[str]] = [
    {
        "_errors",
        "vocabulary",
        "settings",
    },  # the types kb and evaluation share; settings read at the edges
    {"facts"},
    {"engine"},
    {"kb"},
    {"evaluation"},  # the output model
    {"ingest", "resolve", "emit"},
    {"pipeline"},
    {"(api)"},  # cds_backpain/__init__.py: the public names
    {"examples", "output_schema", "cli_options"},
    {"batch", "testing", "reports"},  # reports: QA and documentation generators
    {"publish"},  # knowledge packages, diffs and safety cases (reads batch summaries)
    {"service"},  # serves the published FHIR package too
    {"cli", "quickstart"},  # quickstart: the integration guide's key, token and request helper
]

#: (importing module, imported component): violations of today, to be removed.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def component(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "(api)"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """The ``cds_backpain`` modules (or package names) ``path`` imports, resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target == "cds_backpain":
                # ``from . import x`` / ``from .. import x``: a submodule, or a public name
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py")
                    is_package = PACKAGE.parent / sub.replace(".", "/") / "__init__.py"
                    found.add(sub if is_module.exists() or is_package.exists() else target)
            else:
                found.add(target)
    return {m for m in found if m == "cds_backpain" or m.startswith("cds_backpain.")}


def layer_of(comp: str) -> int:
    for i, layer in enumerate(LAYERS):
        if comp in layer:
            return i
    raise AssertionError(f"component {comp!r} is in no layer: add it to LAYERS and the docs")


def violations() -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        own = component(importer)
        for target in imports(path):
            theirs = component(target)
            if theirs == own:
                continue
            if layer_of(theirs) >= layer_of(own):
                out[(importer, theirs)] = f"{importer} imports {target}"
    return out


def test_every_component_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(component(module_name(path)))


def test_no_component_imports_its_own_layer_or_above():
    new = {k: v for k, v in violations().items() if k not in KNOWN_VIOLATIONS}
    assert not new, "layering violations (docs/architecture.md, Layering):\n" + "\n".join(
        sorted(new.values())
    )


def test_every_listed_exception_is_still_needed():
    gone = sorted(set(KNOWN_VIOLATIONS) - set(violations()))
    assert not gone, f"fixed, so remove from KNOWN_VIOLATIONS (and the docs): {gone}"


def test_the_checker_sees_imports_inside_functions_and_relative_imports():
    found = imports(PACKAGE / "service" / "app.py")
    assert "cds_backpain" in found  # ``from .. import evaluate`` inside a function
    assert "cds_backpain.service.pama" in found  # ``from . import pama``
    assert any(m.startswith("cds_backpain.ingest") for m in found)


def test_every_layer_names_a_component_that_exists():
    missing = [
        comp
        for layer in LAYERS
        for comp in layer
        if comp != "(api)"
        and not (PACKAGE / f"{comp}.py").is_file()
        and not (PACKAGE / comp / "__init__.py").is_file()
    ]
    assert not missing, f"LAYERS names components that are not in cds_backpain/: {missing}"


def _without_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        if not depth:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    return "".join(out)


def documented_layers() -> dict[int, set[str]]:
    """Row number -> components of the layering table in docs/architecture.md."""
    doc = ARCHITECTURE.read_text(encoding="utf-8")
    start = doc.index("\n## Layering")
    table = doc[start : doc.find("\n## ", start + 1)]
    rows: dict[int, set[str]] = {}
    for number, components in re.findall(r"^\| (\d+) \| (.+?) \|", table, re.M):
        names = re.findall(r"`([^`]+)`", _without_parentheses(components))
        rows[int(number)] = {"(api)" if n == "cds_backpain/__init__.py" else n for n in names}
    return rows


def test_the_architecture_doc_shows_these_layers():
    expected = {i: layer for i, layer in enumerate(LAYERS)}
    assert documented_layers() == expected, (
        "docs/architecture.md's layering table and LAYERS differ: keep them in step"
    )


def test_the_service_reads_input_only_through_ingests_public_names():
    """The transport uses ``cds_backpain.ingest``'s public API (``parse_json``,
    ``expected_patient``, ``count_relevant``, ...), never its private modules."""
    private = {
        (module_name(path), target)
        for path in sorted((PACKAGE / "service").rglob("*.py"))
        for target in imports(path)
        if target.startswith("cds_backpain.ingest.")
    }
    assert private == set()
