"""Jupyter notebooks: analyse the code cells as one Python text, then map findings back to cells.

IPython syntax (`%magic`, `!shell`, `obj?`, `%%cell` magics) is masked with `pass` or `None`
so the line count never changes; findings come back as `path:cell N:line:col` (N counts every
cell of the notebook, markdown included, as notebook editors show them). SARIF and GitHub
annotations need the line in the `.ipynb` file itself: `disk_position` finds where each source
line's JSON string sits.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from json.decoder import scanstring
from pathlib import Path

from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.files import SourceError, parseable_source
from graphlint.findings import Finding, Location

SUFFIX = ".ipynb"
# Cell magics whose body is still Python; any other cell magic (%%bash, %%writefile...) hides the cell.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "skip"})
_ASSIGNED_MAGIC = re.compile(r"^(\s*)([\w.\[\], ]+?)\s*=\s*[%!]")
_LINE_MAGIC = re.compile(r"^(\s*)[%!?]")
_HELP = re.compile(r"^(\s*)[\w.]+\?\??\s*$")
_JSON_SCALAR = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null")


@dataclass(frozen=True)
class CellLine:
    cell: int  # 1-based position among all cells
    line: int  # 1-based line within the cell


@dataclass(frozen=True)
class Notebook:
    text: str  # the code cells as one Python text
    origin: tuple[CellLine, ...]  # origin[i] is where line i+1 of `text` came from
    cells: dict[int, list[str]]  # cell number -> its source lines, as written


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _mask(line: str) -> str:
    """Replace IPython-only syntax with Python of the same line count."""
    if m := _ASSIGNED_MAGIC.match(line):
        return f"{m.group(1)}{m.group(2)} = None"
    if (m := _LINE_MAGIC.match(line)) or (m := _HELP.match(line)):
        return f"{m.group(1)}pass"
    return line


def parse(raw: str) -> Notebook:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SourceError(f"not a valid notebook: invalid JSON at line {exc.lineno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise SourceError("not a valid notebook: no 'cells' list")
    language = doc.get("metadata", {}).get("kernelspec", {}).get("language") or \
        doc.get("metadata", {}).get("language_info", {}).get("name") or "python"
    if str(language).lower() != "python":
        raise SourceError(f"notebook kernel language is {language!r}, not Python")
    out: list[str] = []
    origin: list[CellLine] = []
    cells: dict[int, list[str]] = {}
    for number, cell in enumerate(doc["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        lines = _cell_source(cell).splitlines()
        cells[number] = lines
        hidden = bool(lines) and lines[0].startswith("%%") and lines[0][2:].split(" ")[0] not in PYTHON_CELL_MAGICS
        for i, line in enumerate(lines, start=1):
            out.append("pass" if hidden and i == 1 else "" if hidden else _mask(line))
            origin.append(CellLine(number, i))
    return Notebook("\n".join(out) + "\n", tuple(origin), cells)


def read(path: Path) -> Notebook:
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"not valid UTF-8 at byte {exc.start}; notebooks are UTF-8 JSON") from None
    return parse(raw)


def analyze(path: Path, display: str, options: AnalysisOptions, project: ProjectIndex) -> list[Finding]:
    """The engine's findings on the notebook's code, with cell numbers and cell-relative lines."""
    from graphlint.engine import analyze_source  # the analyser loads only when something is analysed

    nb = read(path)
    return [to_cells(f, nb, display) for f in analyze_source(parseable_source(nb.text), display, options, project)]


def _locate(nb: Notebook, line: int) -> CellLine:
    return nb.origin[min(max(line, 1), len(nb.origin)) - 1] if nb.origin else CellLine(1, line)


def to_cells(f: Finding, nb: Notebook, display: str) -> Finding:
    start, end = _locate(nb, f.line), _locate(nb, f.end_line)
    related = tuple(
        dataclasses.replace(loc, line=_locate(nb, loc.line).line, cell=_locate(nb, loc.line).cell)
        if loc.path == display else loc
        for loc in f.related
    )
    return dataclasses.replace(
        f, cell=start.cell, line=start.line,
        end_line=end.line if end.cell == start.cell else start.line,
        end_column=f.end_column if end.cell == start.cell else len(nb.cells[start.cell][start.line - 1]) + 1,
        related=related,
    )


# ---------------------------------------------------------------- where things are in the .ipynb file


@lru_cache(maxsize=32)
def _source_strings(path: str) -> dict[int, list[tuple[int, str]]]:
    """For each cell number: its source's JSON strings as (offset of the opening quote, decoded text)."""
    raw = Path(path).read_text(encoding="utf-8")
    found: dict[int, list[tuple[int, str]]] = {}
    _Walker(raw, found).run()
    return found


class _Walker:
    """A small JSON reader that remembers where each string of cells[i].source starts in the file."""

    def __init__(self, raw: str, found: dict[int, list[tuple[int, str]]]) -> None:
        self.raw, self.found, self.pos = raw, found, 0

    def run(self) -> None:
        self.value(path=())

    def skip_ws(self) -> None:
        while self.pos < len(self.raw) and self.raw[self.pos] in " \t\r\n":
            self.pos += 1

    def value(self, path: tuple) -> object:
        self.skip_ws()
        ch = self.raw[self.pos]
        if ch == "{":
            return self.container(path, "}", keyed=True)
        if ch == "[":
            return self.container(path, "]", keyed=False)
        if ch == '"':
            start = self.pos
            text, self.pos = scanstring(self.raw, self.pos + 1)
            if len(path) >= 3 and path[0] == "cells" and path[2] == "source":
                self.found.setdefault(path[1] + 1, []).append((start, text))
            return text
        m = _JSON_SCALAR.match(self.raw, self.pos)
        if not m:
            raise ValueError(f"unexpected character at offset {self.pos}")
        self.pos = m.end()
        return None

    def container(self, path: tuple, close: str, keyed: bool) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_ws()
            if self.raw[self.pos] == close:
                self.pos += 1
                return None
            if keyed:
                key, self.pos = scanstring(self.raw, self.pos + 1)
                self.skip_ws()
                self.pos += 1  # the colon
                self.value(path + (key,))
            else:
                self.value(path + (index,))
            index += 1
            self.skip_ws()
            if self.raw[self.pos] == ",":
                self.pos += 1


def _raw_offset(raw: str, quote: int, chars: int) -> int:
    """Offset in the file of the `chars`-th decoded character of the JSON string opening at `quote`."""
    pos = quote + 1
    for _ in range(chars):
        if raw[pos] != "\\":
            pos += 1
        elif raw[pos + 1] == "u":
            high = int(raw[pos + 2:pos + 6], 16)
            pos += 12 if 0xD800 <= high < 0xDC00 and raw[pos + 6:pos + 8] == "\\u" else 6
        else:
            pos += 2
    return pos


def disk_position(path: str, cell: int, line: int, column: int) -> tuple[int, int]:
    """(line, column), both 1-based, in the .ipynb file of a cell-relative position; best effort."""
    try:
        strings = _source_strings(path).get(cell)
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        strings = None
    if not strings:
        return 1, 1
    raw = Path(path).read_text(encoding="utf-8")
    seen = 0  # source lines before the current string
    for quote, text in strings:
        inner = text.split("\n")
        lines_here = len(inner) - (1 if text.endswith("\n") else 0) or 1
        if line <= seen + lines_here:
            chars = sum(len(s) + 1 for s in inner[: line - seen - 1]) + column - 1
            offset = _raw_offset(raw, quote, min(chars, len(text)))
            return raw.count("\n", 0, offset) + 1, offset - (raw.rfind("\n", 0, offset) + 1) + 1
        seen += lines_here
    quote, _ = strings[-1]
    return raw.count("\n", 0, quote) + 1, 1


@lru_cache(maxsize=64)
def source_lines(path: str, cell: int | None = None) -> tuple[str, ...]:
    """The lines a finding's line number counts in: a file's, or one notebook cell's. Empty if unreadable."""
    try:
        if cell is not None:
            return tuple(read(Path(path)).cells.get(cell, []))
        return tuple(Path(path).read_text(encoding="utf-8", errors="replace").splitlines())
    except (OSError, SourceError):
        return ()
