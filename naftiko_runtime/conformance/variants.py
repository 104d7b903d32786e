"""Every alpha2 case run again in the Ikanos beta4 dialect: same outcome (issue 11, CONTRACT D70).

A case whose capabilities are alpha2 gets a twin ``<id>@beta4``: its capability files (and the
capability files among its ``files``, for imports) are rewritten by ``naftiko migrate``, and the
``file:line:column`` its validation expects are moved to where the same nodes are in the
rewritten text (``{file}:22:9`` -> wherever line 22, column 9's key now is).

Two case keys say where the dialects differ, and why (cite the decision in ``checks``):

- ``dialects: [alpha2]`` — the case is about the alpha2 dialect itself (its versions, its D3
  extensions); no twin;
- ``beta4: {...}`` — top-level keys replaced in the twin, where a decision of the beta4 dialect
  changes the outcome (D72: what the beta4 schema rejects is an error, not a warning). Positions
  in it are written against the alpha2 text, like the case's own, and moved the same way.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from naftiko_runtime.spec.diagnostics import DocPath
from naftiko_runtime.spec.migrate import migrate_text, migration_origins
from naftiko_runtime.spec.source import parse_text

from .cases import Case, capability_sources, yaml_text

SUFFIX = "@beta4"
FEATURE = "dialect.beta4"
FILE_POSITION = re.compile(r"\{(file\d*)\}:([^:\s']+)(?::([^:\s']+))?")
ANY_NUMBER = r"\d+"

Position = tuple[int, int]


def beta4_variants(cases: list[Case]) -> list[Case]:
    return [variant for case in cases if (variant := beta4_variant(case)) is not None]


@functools.lru_cache(maxsize=256)
def _is_alpha2(text: str) -> bool:
    try:
        data = YAML(typ="safe", pure=False).load(text)
    except Exception:  # not YAML: a case about parse errors has no dialect
        return False
    return isinstance(data, dict) and "naftiko" in data


@functools.lru_cache(maxsize=256)
def _migrated(text: str) -> str:
    """Cases share capability files: each text is migrated once per run."""
    return migrate_text(text)[0]


def beta4_variant(case: Case) -> Case | None:
    if "beta4" not in (case.data.get("dialects") or ["alpha2", "beta4"]):
        return None
    try:
        sources = capability_sources(case)
    except Exception:  # a malformed case is reported by its alpha2 run
        return None
    if not sources or not all(_is_alpha2(text) for _, text in sources):
        return None
    data = {k: copy.deepcopy(v) for k, v in case.data.items() if k not in ("beta4", "dialects")}
    migrated = [_migrated(text) for _, text in sources]
    if "capabilities" in data:
        data["capabilities"] = migrated
    else:
        data["capability"] = migrated[0]
    data["files"] = {name: _migrated_file(content) for name, content in (data.get("files") or {}).items()}
    data.update(copy.deepcopy(case.data.get("beta4") or {}))  # its positions are the alpha2 text's, moved below
    if isinstance(data.get("validate"), dict):
        moves = [_position_moves(text, new_text) for (_, text), new_text in zip(sources, migrated, strict=True)]
        for key in ("diagnostics", "absent"):
            if key in data["validate"]:
                data["validate"][key] = [_moved_pattern(p, moves) for p in data["validate"][key]]
    data["id"] = case.id + SUFFIX
    return Case(
        case.id + SUFFIX,
        case.area,
        case.file,
        data,
        case.title + " (beta4)",
        [*case.checks, "D70"],
        [*case.features, FEATURE],
    )


def _migrated_file(content: Any) -> Any:
    """A capability among a case's files (an imported one) is migrated too; other files stay."""
    text = content if isinstance(content, str) else yaml_text(content) if isinstance(content, dict) else None
    if text is None or not _is_alpha2(text):
        return content
    return _migrated(text)


def _node_positions(text: str) -> dict[DocPath, Position]:
    """1-based line and column of every key and list item of a YAML text, by path."""
    tree = YAML(typ="rt").load(text)
    found: dict[DocPath, Position] = {}
    stack: list[tuple[Any, DocPath]] = [(tree, ())]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict) and hasattr(node, "lc"):
            for key, value in node.items():
                line, column = node.lc.key(key)
                found[at + (key,)] = (line + 1, column + 1)
                stack.append((value, at + (key,)))
        elif isinstance(node, list) and hasattr(node, "lc"):
            for index, value in enumerate(node):
                line, column = node.lc.item(index)
                found[at + (index,)] = (line + 1, column + 1)
                stack.append((value, at + (index,)))
    found[()] = (1, 1)
    return found


@functools.lru_cache(maxsize=64)
def _position_moves(alpha2: str, beta4: str) -> dict[Position, list[Position]]:
    """Where the nodes at each alpha2 position are in the migrated text: the translation up that
    ``migrate`` runs records, for each path it moved, the alpha2 path it came from."""
    source = parse_text(beta4, Path("migrated.yaml"))
    migrated_at = {
        written: native for native, written in migration_origins(parse_text(alpha2, Path("a.yaml")).data).items()
    }
    moves: dict[Position, list[Position]] = {}
    for at, position in _node_positions(alpha2).items():
        cut = next(cut for cut in range(len(at), -1, -1) if cut == 0 or at[:cut] in migrated_at)
        moved = source.position(migrated_at.get(at[:cut], at[:cut]) + at[cut:])
        if moved not in moves.setdefault(position, []):
            moves[position].append(moved)
    return moves


def _moved_pattern(pattern: str, moves: list[dict[Position, list[Position]]]) -> str:
    """``{file}:LINE:COL`` (each part a number or a regular expression) -> the migrated positions."""

    def replace(match: re.Match[str]) -> str:
        name, line, column = match.group(1), match.group(2), match.group(3)
        index = int(name[4:] or 1) - 1
        if line == ANY_NUMBER or index >= len(moves):
            return match.group(0)
        candidates = [
            moved
            for (original_line, original_column), targets in moves[index].items()
            if re.fullmatch(line, str(original_line)) and (column is None or re.fullmatch(column, str(original_column)))
            for moved in targets
        ]
        if not candidates:
            return match.group(0)
        if column is None:
            return f"{{{name}}}:(?:{'|'.join(sorted({str(moved[0]) for moved in candidates}))})"
        return f"{{{name}}}:(?:{'|'.join(sorted({f'{moved[0]}:{moved[1]}' for moved in candidates}))})"

    return FILE_POSITION.sub(replace, pattern)
