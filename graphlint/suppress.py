"""`# noqa` comments, read the way flake8 and ruff read them, and the ones that no longer suppress anything.

- `x = y.detach()  # noqa: GL101` suppresses GL101 on that line (a finding's first or last line);
  `# noqa: GL101, GL2` lists several codes or prefixes.
- a bare `# noqa` suppresses every graphlint finding on the line.
- `# graphlint: noqa` on a line of its own suppresses the whole file; `# graphlint: noqa: GL101`
  only those codes.

Only comments count (tokenize, not text search), so `"# noqa"` inside a string does nothing.
Unused suppressions are reported only for graphlint codes (`GL…`) of enabled rules: other codes
and bare `# noqa` may serve other linters.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from graphlint.findings import Finding

OWN_PREFIX = "GL"
_CODES = r"(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?"
_LINE = re.compile(r"#\s*noqa" + _CODES, re.IGNORECASE)
_FILE = re.compile(r"#\s*graphlint\s*:\s*noqa" + _CODES, re.IGNORECASE)
# Text that a directive naming one of our codes must contain, comment or not: a cheap search that
# spares tokenizing the many files whose noqa comments serve only other linters.
_MAY_NAME_OWN_CODE = re.compile(r"noqa\s*:\s*(?:[A-Z]+[0-9]+[,\s]+)*" + OWN_PREFIX + r"[0-9]", re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    line: int
    column: int
    codes: tuple[str, ...]  # empty: every code
    file_level: bool
    cell: int | None = None  # for notebooks, `line` is within this cell


@dataclass(frozen=True)
class UnusedSuppression:
    path: str
    line: int
    column: int
    code: str
    file_level: bool
    cell: int | None = None

    def to_dict(self) -> dict:
        doc = {"path": self.path, "line": self.line, "column": self.column, "code": self.code,
               "scope": "file" if self.file_level else "line"}
        if self.cell is not None:
            doc["cell"] = self.cell
        return doc


@dataclass
class Suppressions:
    directives: list[Directive] = field(default_factory=list)

    def filter(self, path: str, findings: list[Finding], enabled: set[str]) -> tuple[list[Finding], list[UnusedSuppression]]:
        """(the findings left, the enabled GL codes that suppressed nothing)."""
        used: set[tuple[Directive, str]] = set()
        kept = []
        for f in findings:
            hit = next(((d, c) for d in self.directives for c in _covering(d, f)), None)
            if hit is None:
                kept.append(f)
            else:
                used.add(hit)
        unused = [
            UnusedSuppression(path, d.line, d.column, code, d.file_level, d.cell)
            for d in self.directives for code in d.codes
            if code.startswith(OWN_PREFIX) and (d, code) not in used
            and any(e.startswith(code) for e in enabled)
        ]
        return kept, unused


def _covering(d: Directive, f: Finding) -> list[str]:
    """The directive's codes that cover the finding ('' for a bare noqa)."""
    if not d.file_level and (d.cell != f.cell or d.line not in (f.line, f.end_line)):
        return []
    if not d.codes:
        return [""]
    return [c for c in d.codes if f.rule.startswith(c)]


def _codes(text: str | None) -> tuple[str, ...]:
    return tuple(c.upper() for c in re.split(r"[,\s]+", text or "") if c)


def parse(text: str, origin: tuple | None = None, own_codes_only: bool = False) -> Suppressions:
    """Every noqa directive in the comments of `text`; for a notebook, `origin` maps its lines to cells.

    `own_codes_only`: the caller needs only directives that name a graphlint code (a file without
    findings, whose directives matter only as unused ones); others may then be left out."""
    if "noqa" not in text.lower() or own_codes_only and not _MAY_NAME_OWN_CODE.search(text):
        return Suppressions()
    out = Suppressions()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return out  # the engine reports unparseable files itself
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        line, col = tok.start
        cell = None
        if origin:
            cell, line = origin[line - 1].cell, origin[line - 1].line
        if m := _FILE.search(tok.string):
            out.directives.append(Directive(line, col + 1, _codes(m.group("codes")), True, cell))
        elif m := _LINE.search(tok.string):
            out.directives.append(Directive(line, col + 1, _codes(m.group("codes")), False, cell))
    return out
