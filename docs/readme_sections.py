"""Generate README.md's lineage diagram and Layout from the tree, so that they cannot go stale: `make readme`.

Each generated block sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in README.md and is
rewritten whole; everything outside the markers is left alone. Only files in the repository are read (no dbt
invocation: a fresh clone has no manifest), and every listing is sorted, so the output depends on the tree alone.
tests/test_readme.py fails when README.md differs from what this produces.

    .venv/bin/python docs/readme_sections.py            # rewrite README.md (make readme)
    .venv/bin/python docs/readme_sections.py --check    # exit 1 if README.md is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("python/mlwatch")
MAKE_TARGET = "make readme"

# Layers drawn left to right; a models/ folder not named here is drawn after intermediate, before the marts.
LAYERS = ("staging", "intermediate", "marts")

BLOCK = re.compile(r"<!-- generated:(?P<name>[a-z-]+) -->\n.*?<!-- /generated:(?P=name) -->", re.DOTALL)
# dbt resolves ref/source wherever Jinja renders them (macro arguments and `--` comments included), so the whole
# file is scanned; only Jinja comments are dropped, as dbt drops them.
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
REF = re.compile(r"""\bref\(\s*(?:['"][^'"]+['"]\s*,\s*)?['"]([^'"]+)['"]\s*(?:,[^)]*)?\)""")
SOURCE = re.compile(r"""\bsource\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
COMMAND = re.compile(r"`(mlwatch [a-z][a-z-]*)")
# A sentence ends at a full stop followed by anything but a lower-case word (or the end): "e.g. pickup" does not
# end one, ". `is_outside_band` flags" does.
SENTENCE_END = re.compile(r"\.(?=\s+[^a-z\s]|\s*$)")


class ReadmeError(Exception):
    """The tree or README.md cannot produce the generated blocks (the message says what to fix)."""


@dataclass
class Model:
    name: str
    folder: Path  # relative to models/
    refs: set[str] = field(default_factory=set)
    sources: set[tuple[str, str]] = field(default_factory=set)
    description: str = ""
    tags: list[str] = field(default_factory=list)

    @property
    def layer(self) -> str:
        return self.folder.parts[0] if self.folder.parts else ""

    @property
    def group(self) -> str | None:
        """Intermediate models drawn as one node: a sub-folder's, else those sharing a tag (the warehouse engine).

        The engine's models are a dozen steps of one computation whose edges would swamp the diagram; staging and
        marts are always drawn model by model, so every mart is named.
        """
        if self.layer != "intermediate":
            return None
        if len(self.folder.parts) > 1:
            return "/".join(self.folder.parts[1:])
        return self.tags[0] if self.tags else None


@dataclass
class Source:
    name: str
    tables: list[str]
    writer: str | None  # the `mlwatch <step>` its description names


@dataclass
class Exposure:
    name: str
    label: str
    refs: list[str]


@dataclass
class Project:
    models: dict[str, Model]
    sources: dict[str, Source]
    seeds: list[str]
    exposures: list[Exposure]


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = SENTENCE_END.search(text)
    return text[: match.end()] if match else text


def _yaml_files(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")]):
        content = yaml.safe_load(path.read_text())
        if isinstance(content, dict):
            yield content


def _tags(entry: dict[str, Any]) -> list[str]:
    tags = (entry.get("config") or {}).get("tags", entry.get("tags", []))
    return [tags] if isinstance(tags, str) else list(tags)


def read_project(root: Path) -> Project:
    models_dir = root / "models"
    models: dict[str, Model] = {}
    for path in sorted(models_dir.rglob("*.sql")):
        relative = path.relative_to(models_dir)
        if relative.parts[0] == "trained":  # the trained models' folder (.dbtignore), not dbt models
            continue
        sql = JINJA_COMMENT.sub("", path.read_text())
        models[path.stem] = Model(
            path.stem, relative.parent, set(REF.findall(sql)), {(s, t) for s, t in SOURCE.findall(sql)}
        )

    sources: dict[str, Source] = {}
    exposures: list[Exposure] = []
    for content in _yaml_files(models_dir):
        for entry in content.get("models") or []:
            if entry.get("name") in models:
                model = models[entry["name"]]
                model.description = str(entry.get("description") or "")
                model.tags = _tags(entry)
        for entry in content.get("sources") or []:
            tables = sorted(table["name"] for table in entry.get("tables") or [])
            writer = COMMAND.search(str(entry.get("description") or ""))
            sources[entry["name"]] = Source(entry["name"], tables, writer.group(1) if writer else None)
        for entry in content.get("exposures") or []:
            refs = sorted({name for item in entry.get("depends_on") or [] for name in REF.findall(item)})
            label = str(entry.get("label") or entry["name"])
            exposures.append(Exposure(entry["name"], label, refs))

    seeds = sorted(path.stem for path in (root / "seeds").glob("*.csv"))
    return Project(models, sources, seeds, sorted(exposures, key=lambda exposure: exposure.name))


def _layer_rank(layer: str) -> tuple[int, str]:
    if layer in LAYERS:
        return (LAYERS.index(layer) * 2, layer)
    return (LAYERS.index("intermediate") * 2 + 1, layer)


def _check_refs(project: Project) -> None:
    known = set(project.models) | set(project.seeds)
    missing = sorted(
        f"{name} -> {ref}"
        for name, refs in [(m.name, m.refs) for m in project.models.values()]
        + [(f"exposure {e.name}", set(e.refs)) for e in project.exposures]
        for ref in refs
        if ref not in known
    )
    missing += sorted(
        f"{model.name} -> source('{source}', '{table}')"
        for model in project.models.values()
        for source, table in model.sources
        if table not in (project.sources[source].tables if source in project.sources else [])
    )
    if missing:
        raise ReadmeError("references to nothing in models/ or seeds/: " + ", ".join(missing))


def lineage(project: Project) -> str:
    """A mermaid flowchart: sources -> staging -> intermediate -> marts -> exposures, seeds beside the sources."""
    _check_refs(project)

    def node(name: str) -> str:
        if name in project.seeds:
            return name
        group = project.models[name].group
        return f"group_{_mermaid_id(group)}" if group else name

    lines = ["```mermaid", "flowchart LR"]
    lines.append('  subgraph layer_sources ["raw (sources)"]')
    for source in project.sources.values():
        writer = f" ({source.writer})" if source.writer else ""
        lines.append(f'    source_{source.name}[("{source.name}{writer}<br/>{" · ".join(source.tables)}")]')
    lines.append("  end")
    if project.seeds:
        lines.append('  subgraph layer_seeds ["seeds"]')
        lines += [f'    {seed}[("{seed}")]' for seed in project.seeds]
        lines.append("  end")

    layers = sorted({model.layer for model in project.models.values()}, key=_layer_rank)
    for layer in layers:
        lines.append(f'  subgraph layer_{_mermaid_id(layer)} ["{layer}"]')
        members = [model for model in project.models.values() if model.layer == layer]
        groups: dict[str, list[str]] = {}
        for model in sorted(members, key=lambda m: m.name):
            if model.group:
                groups.setdefault(model.group, []).append(model.name)
            else:
                lines.append(f"    {model.name}")
        for group, names in sorted(groups.items()):
            lines.append(f'    group_{_mermaid_id(group)}[["{group}: {len(names)} models"]]')
        lines.append("  end")

    if project.exposures:
        lines.append('  subgraph layer_exposures ["exposures"]')
        lines += [f'    exposure_{e.name}(["{e.label}"])' for e in project.exposures]
        lines.append("  end")

    inputs: dict[str, set[str]] = {}
    for model in project.models.values():
        target = node(model.name)
        upstream = {f"source_{source}" for source, _ in model.sources} | {node(ref) for ref in model.refs}
        inputs.setdefault(target, set()).update(upstream - {target})
    for exposure in project.exposures:
        inputs[f"exposure_{exposure.name}"] = {node(ref) for ref in exposure.refs}
    # Targets with the same inputs share a line ("a & b --> c & d"): fewer lines, the same drawing.
    order = {name: rank for rank, name in enumerate(_ordered_nodes(project, node))}
    targets_by_inputs: dict[tuple[str, ...], list[str]] = {}
    for target in sorted(inputs, key=lambda name: (order[name], name)):
        if inputs[target]:
            targets_by_inputs.setdefault(tuple(sorted(inputs[target])), []).append(target)
    for upstream, targets in targets_by_inputs.items():
        lines.append(f"  {' & '.join(upstream)} --> {' & '.join(targets)}")
    lines.append("```")
    return "\n".join(lines)


def _ordered_nodes(project: Project, node: Any) -> list[str]:
    names = [f"source_{name}" for name in project.sources] + list(project.seeds)
    models = sorted(project.models.values(), key=lambda m: (_layer_rank(m.layer), m.name))
    names += list(dict.fromkeys(node(model.name) for model in models))
    return names + [f"exposure_{exposure.name}" for exposure in project.exposures]


def _mermaid_id(text: str) -> str:
    return re.sub(r"\W", "_", text)


def module_summaries(root: Path) -> dict[Path, str | None]:
    """The first line of each module's docstring under python/mlwatch/, keyed by path relative to the package.

    Raises when a module has none: the Layout is the map of the code, so every new module must say what it is.
    """
    summaries: dict[Path, str | None] = {}
    undocumented = []
    package = root / PACKAGE
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(), filename=str(path)))
        if docstring and docstring.strip():
            summaries[path.relative_to(package)] = docstring.strip().splitlines()[0]
        elif path.name == "__main__.py":
            # Its name says what it is; a docstring would only repeat it.
            dotted = ".".join(path.relative_to(root / "python").parent.parts)
            summaries[path.relative_to(package)] = f"the entry point of `python -m {dotted}`."
        else:
            undocumented.append(str(path.relative_to(root)))
    if undocumented:
        raise ReadmeError(
            f"{', '.join(undocumented)}: no module docstring. Start each module with a docstring whose first line "
            f"says what it is (README.md's Layout shows it), then run `{MAKE_TARGET}`."
        )
    return summaries


def _python_tree(summaries: dict[Path, str | None], folder: Path, depth: int) -> Iterator[str]:
    indent = "  " * depth
    children: dict[str, Path] = {}
    for path in summaries:
        if path.parent == folder and path.name != "__init__.py":
            children[path.name] = path
        elif len(path.parts) > len(folder.parts) + 1 and path.parts[: len(folder.parts)] == folder.parts:
            sub = Path(*path.parts[: len(folder.parts) + 1])
            children[sub.name] = sub
    for name, path in sorted(children.items()):
        if path in summaries:
            yield f"{indent}- `{name}`: {summaries[path]}"
        else:
            summary = summaries.get(path / "__init__.py")
            yield f"{indent}- `{name}/`" + (f": {summary}" if summary else "")
            yield from _python_tree(summaries, path, depth + 1)


def _files(root: Path, folder: str, suffixes: Iterable[str] | None = None) -> list[str]:
    base = root / folder
    return sorted(
        str(path.relative_to(base))
        for path in base.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") or part in {"__pycache__", "results"} for part in path.relative_to(base).parts)
        and (suffixes is None or path.suffix in suffixes)
    )


def _code_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def layout(root: Path, project: Project) -> str:
    summaries = module_summaries(root)
    lines = [f"- `{PACKAGE}/`: {summaries.get(Path('__init__.py')) or 'the Python package'}"]
    lines += _python_tree(summaries, Path(), 1)

    lines.append("- `models/`: the dbt models, by layer (lineage above)")
    folders = sorted({m.folder for m in project.models.values()}, key=lambda f: (_layer_rank(f.parts[0]), f.parts))
    for folder in folders:
        members = sorted((m for m in project.models.values() if m.folder == folder), key=lambda m: m.name)
        if folder.parts[0] == "marts":
            lines.append(f"  - `{folder}/`: what Grafana, BI tools and `mlwatch show` read, each with its grain")
            lines += [f"    - `{m.name}`: {first_sentence(m.description) or '(no description)'}" for m in members]
            continue
        tagged: dict[str, list[str]] = {}
        plain = []
        for model in members:
            if model.group and len(folder.parts) == 1:
                tagged.setdefault(model.group, []).append(model.name)
            else:
                plain.append(model.name)
        lines.append(f"  - `{folder}/`" + (f": {_code_list(plain)}" if plain else ""))
        lines += [f"    - tag `{tag}`: {_code_list(names)}" for tag, names in sorted(tagged.items())]

    for folder, suffixes, what in [
        ("seeds", {".csv"}, "the monitored columns and the daily tests' thresholds (configuration)"),
        ("macros", {".sql"}, "cross-database macros and the validity rules"),
        ("data_tests", {".sql"}, "singular dbt data tests"),
        ("tests", {".py"}, "pytest"),
        ("bench", {".py", ".md"}, "benchmarks, not tests ([bench/README.md](bench/README.md))"),
        ("docs", None, "documentation beyond this page"),
        ("grafana", None, "the dashboard, its provisioning and alert rules"),
        ("docker", None, "the Postgres container's init scripts"),
    ]:
        if (root / folder).is_dir():
            lines.append(f"- `{folder}/`: {what}: {_code_list(_files(root, folder, suffixes))}")
    return "\n".join(lines)


def sections(root: Path = ROOT) -> dict[str, str]:
    project = read_project(root)
    return {"lineage": lineage(project), "layout": layout(root, project)}


def render(readme: str, blocks: dict[str, str]) -> str:
    """README.md with each generated block replaced; every block must have its markers and vice versa."""
    found = {match.group("name") for match in BLOCK.finditer(readme)}
    if found != set(blocks):
        raise ReadmeError(
            f"README.md's generated blocks are {sorted(found)}, the generator makes {sorted(blocks)}: "
            "add or remove the `<!-- generated:NAME -->` ... `<!-- /generated:NAME -->` markers"
        )

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"<!-- generated:{name} -->\n{blocks[name]}\n<!-- /generated:{name} -->"

    return BLOCK.sub(replace, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs, write nothing")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    try:
        current = args.readme.read_text()
        updated = render(current, sections(ROOT))
    except ReadmeError as error:
        print(f"readme: {error}", file=sys.stderr)
        return 1
    if updated == current:
        return 0
    if args.check:
        print(f"readme: {args.readme} is stale: run `{MAKE_TARGET}`", file=sys.stderr)
        return 1
    args.readme.write_text(updated)
    print(f"readme: rewrote the generated blocks of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
