"""The layout holds: no import circle in the package, the relations Python reads exist in the dbt project, the two
engines share one interface, and the CLI stays a layer over the steps."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_DIR

from mlwatch import relations
from mlwatch.engines import ENGINE_MODULES, Engine, load_engine

PACKAGE_DIR = PROJECT_DIR / "python" / "mlwatch"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules a module imports, at its top or inside a function, with the packages they sit in
    (importing a.b.c runs a/__init__.py and a/b/__init__.py first)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from mlwatch.steps import load` imports the module mlwatch.steps.load, not a name of steps.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:end]) for end in range(1, len(parts) + 1)} & known
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE_DIR.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, known) for path in paths}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A chain of imports that comes back to its start, if the graph has one (depth-first, three colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return [*stack[stack.index(child) :], child]
            if child not in state and (cycle := visit(child)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_local_imports_and_parent_packages(tmp_path: Path) -> None:
    graph = import_graph()
    assert "mlwatch.train" in graph["mlwatch.steps.load"]  # imported inside run(), after dbt
    assert {"mlwatch.steps", "mlwatch.steps.load", "mlwatch.steps.metrics"} <= graph["mlwatch.cli"]


def test_the_package_has_no_import_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import circle: {' -> '.join(cycle or [])}"


def _dbt_models() -> dict[str, Path]:
    return {path.stem: path for path in (PROJECT_DIR / "models").rglob("*.sql")}


@pytest.mark.parametrize(
    "relation", [value for name, value in vars(relations).items() if name.isupper() and "." in value]
)
def test_every_relation_python_reads_is_a_model_in_its_schema(relation: str) -> None:
    schema, name = relation.split(".")
    models = _dbt_models()
    assert name in models, f"{relation}: no model {name}.sql under models/"
    folder = models[name].relative_to(PROJECT_DIR / "models").parts[0]
    configured = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["models"]["mlwatch"][folder]
    assert configured["+schema"] == schema


@pytest.mark.parametrize(
    "selector", [value for name, value in vars(relations).items() if name.isupper() and "." not in value]
)
def test_every_selector_python_builds_is_in_selectors_yml(selector: str) -> None:
    defined = {entry["name"] for entry in yaml.safe_load((PROJECT_DIR / "selectors.yml").read_text())["selectors"]}
    assert selector in defined


@pytest.mark.parametrize("engine", list(ENGINE_MODULES))
def test_both_engines_have_the_interface(engine: str) -> None:
    expected = inspect.signature(Engine.compute_metrics)
    actual = inspect.signature(load_engine(engine).compute_metrics)
    assert list(actual.parameters) == [name for name in expected.parameters if name != "self"]
    for name, parameter in actual.parameters.items():
        assert parameter.default == expected.parameters[name].default, name


def test_the_cli_reaches_engines_and_training_only_through_the_steps() -> None:
    direct = import_graph()["mlwatch.cli"]
    assert not direct & {"mlwatch.train", "mlwatch.engines", "mlwatch.batches", "mlwatch.runlog"}
