"""README.md stays true to the tree: its generated blocks are current; the commands, files and models it names exist."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import typer
from conftest import PROJECT_DIR

from mlwatch.schema import RAW_TABLES


def _load_generator() -> ModuleType:
    # docs/ is not a package; load the generator by path, as `make readme` runs it.
    spec = importlib.util.spec_from_file_location("readme_sections", PROJECT_DIR / "docs" / "readme_sections.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


readme_sections = _load_generator()
READMES = [PROJECT_DIR / "README.md", PROJECT_DIR / "bench" / "README.md"]


def _code(text: str) -> list[str]:
    """The fenced blocks and inline code spans of a markdown text: where commands, files and models are named."""
    fenced = re.findall(r"^```[\w-]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    # A shell comment is prose ("so mlwatch connects to..."), not a command.
    fenced = [re.sub(r"(^|\s)#.*$", "", block, flags=re.MULTILINE) for block in fenced]
    prose = re.sub(r"^```[\w-]*\n.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return fenced + re.findall(r"`([^`\n]+)`", prose)


def _hand_written(text: str) -> str:
    # The generated blocks name what the tree holds by construction; only the rest can name what is gone.
    return readme_sections.BLOCK.sub("", text)


def test_the_generated_blocks_match_the_tree() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    expected = readme_sections.render(readme, readme_sections.sections(PROJECT_DIR))
    if readme != expected:
        diff = "".join(
            difflib.unified_diff(
                readme.splitlines(keepends=True), expected.splitlines(keepends=True), "README.md", "generated", n=1
            )
        )
        pytest.fail(f"README.md's generated blocks differ from the tree: run `make readme`.\n{diff}")


def test_every_mart_and_module_is_in_the_readme() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    lineage = readme.split("<!-- generated:lineage -->")[1].split("<!-- /generated:lineage -->")[0]
    for mart in sorted((PROJECT_DIR / "models" / "marts").rglob("*.sql")):
        assert re.search(rf"\b{mart.stem}\b", lineage), f"{mart.stem} is not in the lineage diagram"
        assert f"`{mart.stem}`: " in readme, f"{mart.stem} is not in the Layout"
    for module in sorted((PROJECT_DIR / "python" / "mlwatch").rglob("*.py")):
        if module.name != "__init__.py" and "__pycache__" not in module.parts:
            assert f"`{module.name}`: " in readme, f"{module.relative_to(PROJECT_DIR)} is not in the Layout"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


SMALL_TREE = {
    "python/mlwatch/__init__.py": '"""The package."""\n',
    "python/mlwatch/cli.py": '"""The command line.\n\nMore."""\n',
    "python/mlwatch/engines/__init__.py": '"""The metrics engines."""\n',
    "python/mlwatch/engines/sql.py": '"""The SQL engine."""\n',
    "seeds/thresholds.csv": "a\n1\n",
    "models/staging/_sources.yml": (
        "version: 2\nsources:\n  - name: raw_data\n    description: Landed by `mlwatch load` as-is.\n"
        "    tables: [{name: trips}, {name: zones}]\n"
    ),
    "models/staging/stg_trips.sql": "select * from {{ source('raw_data', 'trips') }}\n",
    "models/staging/stg_zones.sql": 'select * from {{ source("raw_data", "zones") }}\n',
    "models/intermediate/int_joined.sql": "{# ref('gone') #} select * from {{ ref('stg_trips') }}, "
    "{{ ref('stg_zones') }}",
    "models/intermediate/engine/int_a.sql": "select * from {{ ref('int_joined') }}",
    "models/intermediate/engine/int_b.sql": "select * from {{ ref('int_a') }} join {{ ref('thresholds') }}",
    "models/marts/daily.sql": "select * from {{ ref('int_joined') }} join {{ ref('int_b') }}",
    "models/marts/_marts.yml": (
        "version: 2\nmodels:\n  - name: daily\n    description: >\n      One row per day, e.g. per pickup day."
        " Then more.\nexposures:\n  - name: board\n    label: The board\n    depends_on: [\"ref('daily')\"]\n"
    ),
}


def test_the_generator_on_a_small_tree(tmp_path: Path) -> None:
    blocks = readme_sections.sections(_write(tmp_path, SMALL_TREE))
    lineage = blocks["lineage"]
    assert 'source_raw_data[("raw_data (mlwatch load)<br/>trips · zones")]' in lineage
    assert "source_raw_data --> stg_trips & stg_zones" in lineage
    assert "stg_trips & stg_zones --> int_joined" in lineage  # the commented-out ref is no dependency
    # A sub-folder's models are one node; its edges to the rest of the graph are kept.
    assert 'group_engine[["engine: 2 models"]]' in lineage
    assert "int_joined & thresholds --> group_engine" in lineage
    assert "group_engine & int_joined --> daily" in lineage
    assert "daily --> exposure_board" in lineage
    assert "int_a" not in lineage
    assert lineage.index("layer_staging") < lineage.index("layer_intermediate") < lineage.index("layer_marts")

    layout = blocks["layout"]
    assert "- `python/mlwatch/`: The package.\n  - `cli.py`: The command line.\n" in layout
    assert "  - `engines/`: The metrics engines.\n    - `sql.py`: The SQL engine." in layout
    assert "  - `intermediate/engine/`: `int_a`, `int_b`" in layout
    assert "    - `daily`: One row per day, e.g. per pickup day.\n" in layout
    assert readme_sections.sections(tmp_path) == blocks  # deterministic


def test_a_module_without_docstring_fails_with_its_name(tmp_path: Path) -> None:
    _write(tmp_path, {**SMALL_TREE, "python/mlwatch/engines/new.py": "x = 1\n"})
    with pytest.raises(readme_sections.ReadmeError, match=r"python/mlwatch/engines/new\.py: no module docstring"):
        readme_sections.sections(tmp_path)


def test_a_ref_to_a_missing_model_fails(tmp_path: Path) -> None:
    _write(tmp_path, {**SMALL_TREE, "models/marts/broken.sql": "select * from {{ ref('int_gone') }}"})
    with pytest.raises(readme_sections.ReadmeError, match=r"broken -> int_gone"):
        readme_sections.sections(tmp_path)


def test_render_needs_every_marker() -> None:
    text = "a\n<!-- generated:lineage -->\nold\n<!-- /generated:lineage -->\nb\n"
    assert readme_sections.render(text, {"lineage": "new"}) == text.replace("old", "new")
    with pytest.raises(readme_sections.ReadmeError, match="markers"):
        readme_sections.render(text, {"lineage": "new", "layout": "x"})


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_make_target_named_exists(readme: Path) -> None:
    targets = set(re.findall(r"^([a-zA-Z0-9_.-]+):", (PROJECT_DIR / "Makefile").read_text(), flags=re.MULTILINE))
    named = {
        target
        for code in _code(readme.read_text())
        for words in re.findall(r"(?<![\w$/.-])make((?: +[a-z][a-z0-9-]*)+)", code)
        for target in words.split()
    }
    assert named, "no `make` command found: the pattern is broken"
    assert named <= targets, f"{readme.name} names make targets the Makefile lacks: {sorted(named - targets)}"


def _mlwatch_commands() -> set[str]:
    # The commands of whatever Typer app the `mlwatch` script entry point lives beside.
    entry = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["scripts"]["mlwatch"]
    module = importlib.import_module(entry.split(":")[0])
    apps = [value for value in vars(module).values() if isinstance(value, typer.Typer)]
    assert len(apps) == 1, f"expected one Typer app in {module.__name__}"
    return set(typer.main.get_group(apps[0]).commands)


def test_every_mlwatch_command_named_exists() -> None:
    commands = _mlwatch_commands()
    for readme in READMES:
        named = {
            command
            for code in _code(readme.read_text())
            for command in re.findall(r"(?<![\w.-])mlwatch +([a-z][a-z-]*)", code)
        }
        assert named <= commands, f"{readme.name} names mlwatch commands that do not exist: {sorted(named - commands)}"
        for module in {m for code in _code(readme.read_text()) for m in re.findall(r"python -m ([\w.]+)", code)}:
            spec = importlib.util.find_spec(module)
            assert spec, f"{readme.name}: `python -m {module}`: no such module"
            if spec.submodule_search_locations is not None:
                assert importlib.util.find_spec(f"{module}.__main__"), f"`python -m {module}`: no __main__"


REPO_PATH = re.compile(r"^(?:\.ci|bench|data_tests|docker|docs|grafana|macros|models|profiles|python|seeds|tests)/")


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_file_and_model_named_exists(readme: Path) -> None:
    text = _hand_written(readme.read_text())
    project = readme_sections.read_project(PROJECT_DIR)
    # The raw tables dbt reads, and those only mlwatch reads and writes (the metric inputs' fingerprint).
    tables = {table for source in project.sources.values() for table in source.tables} | set(RAW_TABLES)
    missing = []
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        if not (readme.parent / link).exists():
            missing.append(link)
    for code in _code(text):
        for token in re.split(r"[\s`()\[\],;:'\"|]+", code):
            token = token.rstrip(".")
            if REPO_PATH.match(token) and not re.search(r"[<>*]", token) and not (PROJECT_DIR / token).exists():
                missing.append(token)
        for model in re.findall(r"\b(?:stg|int|daily)_[a-z0-9_]+", code):
            if not model.endswith("_") and model not in project.models:
                missing.append(f"model {model}")
        missing += [f"raw.{table}" for table in re.findall(r"\braw\.(\w+)", code) if table not in tables]
    assert not missing, f"{readme.relative_to(PROJECT_DIR)} names what the tree lacks: {sorted(set(missing))}"
