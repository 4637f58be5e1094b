"""`[tool.graphlint]` configuration: where it is found, what it may say, and how it layers with the command line.

Conventions follow ruff so nothing surprises users: kebab-case keys, `select`/`ignore`/
`extend-select`, `per-file-ignores`, `exclude`/`extend-exclude`; a command-line `--select`
starts the selection afresh, just as a config `select` does.
"""
from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from graphlint.findings import Severity
from graphlint.knowledge import KnowledgeError, parse_table
from graphlint.rules import catalog
from graphlint.rules.catalog import RuleInfo

CONFIG_FILE = "pyproject.toml"
SECTION = "[tool.graphlint]"


class ConfigError(Exception):
    """Malformed configuration or an unknown rule selector; the message names the key."""


@dataclass(frozen=True)
class Selection:
    """One layer of rule selection (the config file, then the command line)."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path | None = None  # the file it came from; None for defaults
    root: Path = field(default_factory=Path.cwd)  # patterns are relative to this folder
    selection: Selection = Selection()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    extra_sinks: tuple[str, ...] = ()
    extra_steps: tuple[str, ...] = ()
    knowledge: tuple[tuple[str, tuple[str, ...]], ...] = ()  # entries added to graphlint/knowledge's tables

    def where(self, key: str) -> str:
        """How an error names a key: `pyproject.toml: [tool.graphlint] select`."""
        section = f"{SECTION} " if self.path is None or self.path.name == CONFIG_FILE else ""
        return f"{self.path or CONFIG_FILE}: {section}{key}"


# ---------------------------------------------------------------- finding and reading


def find_config(paths: list[str]) -> Path | None:
    """The nearest pyproject.toml with a [tool.graphlint] table, walking up from the checked paths."""
    starts = [Path(p).resolve() for p in paths] or [Path.cwd()]
    start = Path(os.path.commonpath([str(p if p.is_dir() else p.parent) for p in starts]))
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file() and _has_section(candidate):
            return candidate
    return None


def _has_section(path: Path) -> bool:
    """Cheap textual test; a malformed file that mentions the section is still picked so load() reports it."""
    try:
        return "tool.graphlint" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def load(path: Path) -> Config:
    """Read a config file: a pyproject.toml ([tool.graphlint]) or a TOML file holding the keys at top level."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    table = data.get("tool", {}).get("graphlint", {}) if path.name == CONFIG_FILE else data
    base = Config(path=path, root=path.resolve().parent)
    if not isinstance(table, dict):
        raise ConfigError(base.where("must be a table"))
    return _parse(table, base)


KEYS = {
    "select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude",
    "severity", "extra-sinks", "extra-steps", "knowledge",
}


def _parse(table: dict, base: Config) -> Config:
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{base.where(unknown[0])}: unknown key (known keys: {', '.join(sorted(KEYS))})")

    def strings(key: str) -> tuple[str, ...] | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{base.where(key)}: must be a list of strings")
        return tuple(value)

    def code_table(key: str) -> dict:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{base.where(key)}: must be a table")
        return value

    selection = Selection(
        select=_checked_selectors(strings("select"), base.where("select")),
        extend_select=_checked_selectors(strings("extend-select"), base.where("extend-select")) or (),
        ignore=_checked_selectors(strings("ignore"), base.where("ignore")) or (),
    )
    per_file = []
    for pattern, codes in code_table("per-file-ignores").items():
        key = f"per-file-ignores.{pattern!r}"
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{base.where(key)}: must be a list of rule codes")
        per_file.append((pattern, _checked_selectors(tuple(codes), base.where(key))))
    severities = []
    for selector, level in code_table("severity").items():
        key = f"severity.{selector}"
        _checked_selectors((selector,), base.where(key))
        try:
            severities.append((selector.upper(), Severity(str(level).lower())))
        except ValueError:
            raise ConfigError(f"{base.where(key)}: must be one of error, warning, info (got {level!r})") from None
    return Config(
        path=base.path,
        root=base.root,
        selection=selection,
        per_file_ignores=tuple(per_file),
        exclude=strings("exclude") or (),
        extend_exclude=strings("extend-exclude") or (),
        severity=tuple(severities),
        extra_sinks=strings("extra-sinks") or (),
        extra_steps=strings("extra-steps") or (),
        knowledge=_knowledge(code_table("knowledge"), base.where("knowledge")),
    )


def _knowledge(table: dict, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`[tool.graphlint.knowledge]`: more entries for the knowledge tables, in their schema."""
    try:
        return tuple(parse_table(table, where))
    except KnowledgeError as exc:
        raise ConfigError(str(exc)) from None


# ---------------------------------------------------------------- rule selection


def _matches(rule: RuleInfo, selector: str) -> bool:
    return selector == "ALL" or rule.code.startswith(selector) or rule.name.upper() == selector


def _checked_selectors(selectors: tuple[str, ...] | None, where: str) -> tuple[str, ...] | None:
    if selectors is None:
        return None
    rules = catalog.RULES
    out = []
    for raw in selectors:
        sel = raw.strip().upper()
        if not sel or not any(_matches(r, sel) for r in rules) and sel != "ALL":
            raise ConfigError(f"{where}: unknown rule selector {raw!r} (see `graphlint rules`)")
        out.append(sel)
    return tuple(out)


def check_selectors(selectors: list[str], where: str) -> tuple[str, ...]:
    """Validate command-line selectors; `where` names the option in the error."""
    return _checked_selectors(tuple(selectors), where) or ()


def enabled_rules(layers: list[Selection]) -> list[RuleInfo]:
    """Apply the layers in order: a `select` starts afresh, `extend-select` adds, `ignore` removes. Preview rules
    are on only where a selector names their code (`GL304`), never through `ALL` or a prefix."""
    rules = catalog.RULES
    enabled = {r.code for r in rules if not r.preview}

    def chosen(selectors: tuple[str, ...]) -> set[str]:
        return {r.code for r in rules if any(_matches(r, s) and (not r.preview or s == r.code) for s in selectors)}

    for layer in layers:
        if layer.select is not None:
            enabled = chosen(layer.select)
        enabled |= chosen(layer.extend_select)
        enabled -= {r.code for r in rules if any(_matches(r, s) for s in layer.ignore)}
    return [r for r in rules if r.code in enabled]


# ---------------------------------------------------------------- paths


def relative_posix(path: str | Path, root: Path) -> str:
    full = Path(path).resolve()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return full.as_posix()


def _pattern_matches(pattern: str, rel: str) -> bool:
    """Glob match in the style of ruff: against the whole relative path, any leading folder, or the file name."""
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatch(rel, pattern):
        return True
    parts = PurePosixPath(rel).parts
    if "/" not in pattern:
        return any(fnmatch.fnmatch(part, pattern) for part in parts)
    return any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts)))


def is_excluded(config: Config, path: str | Path, patterns: tuple[str, ...]) -> bool:
    rel = relative_posix(path, config.root)
    return any(_pattern_matches(p, rel) for p in patterns)


def per_file_ignored(config: Config, path: str) -> tuple[str, ...]:
    rel = relative_posix(path, config.root)
    return tuple(code for pattern, codes in config.per_file_ignores if _pattern_matches(pattern, rel) for code in codes)


def severity_for(config: Config, code: str, name: str) -> Severity | None:
    """The configured severity of a rule: a rule name or the longest matching code prefix wins."""
    best: tuple[int, Severity] | None = None
    for selector, level in config.severity:
        if selector == name.upper():
            return level
        if (selector == "ALL" or code.startswith(selector)) and (best is None or len(selector) > best[0]):
            best = (len(selector), level)
    return best[1] if best else None
