"""Finding the Python files to check and reading them without ever importing or running them."""
from __future__ import annotations

import os
import tokenize
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path

# Folders that hold other people's code or build output, never the user's training code.
SKIPPED_DIRS = frozenset({
    "__pycache__", "node_modules", "site-packages", "build", "dist", "venv", "env",
    ".venv", ".env", ".git", ".hg", ".svn", ".tox", ".nox", ".eggs",
})
SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")

# CPython's own parser refuses deeper nesting ("too many nested parentheses" / "too many
# levels of indentation"); libcst's native parser can crash the process instead, so we
# refuse such files first, with CPython's words.
MAX_BRACKET_DEPTH = 200
MAX_INDENT_DEPTH = 100
# libcst's parser takes time quadratic in the length of an operator chain (20,000 terms:
# minutes); one statement longer than this is refused rather than stalling the run.
MAX_OPERATORS_PER_STATEMENT = 2000
BINARY_OPERATORS = frozenset("+ - * / // % ** @ | & ^ << >> and or".split())
# The same holds, worse, for a chain of calls, subscripts and attributes on one value
# (`a[0][0]...`: 3,000 links take libcst over 30 s), which CPython still accepts.
MAX_TRAILER_CHAIN = 500


class SourceError(Exception):
    """A file we cannot analyse; the message is one line for the user."""


@dataclass(frozen=True)
class SourceFile:
    display: str  # the path as the user should see it
    path: Path


def is_skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or (name.startswith(".") and name not in (".", ".."))


def discover(paths: list[str], suffixes: tuple[str, ...] = SOURCE_SUFFIXES) -> tuple[list[SourceFile], list[str]]:
    """Expand files and folders into source files; returns (files, paths that do not exist)."""
    found: list[SourceFile] = []
    missing: list[str] = []
    seen: set[Path] = set()

    def add(display: str, path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(SourceFile(display, path))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not is_skipped_dir(d))
                for name in sorted(files):
                    if name.endswith(suffixes):
                        full = Path(root) / name
                        add(os.path.normpath(str(full)), full)
        elif p.is_file():
            add(raw, p)
        else:
            missing.append(raw)
    return found, missing


def decode_source(data: bytes) -> str:
    """Decode like the interpreter would (BOM, coding line, else UTF-8); refuse binary files."""
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"cannot decode: {exc}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        raise SourceError(f"not valid {encoding}{where}; add a '# -*- coding: ... -*-' line or re-save as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def check_parseable(text: str) -> None:
    """Refuse sources that would crash or stall the parser, naming the line and the limit."""
    brackets = indents = operators = 0
    chains = [0]  # length of the trailer chain (`.x`, `(...)`, `[...]`) at each bracket depth
    prev = None
    try:
        for tok in tokenize.generate_tokens(StringIO(text).readline):
            if _is_trailer_start(prev, tok):
                chains[-1] += 1
                if chains[-1] > MAX_TRAILER_CHAIN:
                    raise SourceError(f"line {tok.start[0]}: expression too large to analyse "
                                      f"(over {MAX_TRAILER_CHAIN} chained calls, subscripts or attributes)")
            elif not (tok.string in ")]}" or (tok.type == tokenize.NAME and prev is not None and prev.string == ".")):
                chains[-1] = 0
            if tok.type == tokenize.OP and tok.string in "([{":
                chains.append(0)
            elif tok.type == tokenize.OP and tok.string in ")]}" and len(chains) > 1:
                chains.pop()
            prev = tok
            if tok.string in BINARY_OPERATORS and tok.type in (tokenize.OP, tokenize.NAME):
                operators += 1
                if operators > MAX_OPERATORS_PER_STATEMENT:
                    raise SourceError(f"line {tok.start[0]}: statement too large to analyse "
                                      f"(over {MAX_OPERATORS_PER_STATEMENT} operators)")
            elif tok.type == tokenize.NEWLINE:
                operators = 0
            if tok.type == tokenize.OP and tok.string in "([{":
                brackets += 1
                if brackets > MAX_BRACKET_DEPTH:
                    raise SourceError(f"line {tok.start[0]}: too many nested parentheses (Python allows {MAX_BRACKET_DEPTH})")
            elif tok.type == tokenize.OP and tok.string in ")]}":
                brackets = max(brackets - 1, 0)
            elif tok.type == tokenize.INDENT:
                indents += 1
                if indents >= MAX_INDENT_DEPTH:
                    raise SourceError(f"line {tok.start[0]}: too many levels of indentation (Python allows {MAX_INDENT_DEPTH - 1})")
            elif tok.type == tokenize.DEDENT:
                indents -= 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return  # the parser reports malformed source with a proper location


def _is_trailer_start(prev: tokenize.TokenInfo | None, tok: tokenize.TokenInfo) -> bool:
    """`.`, `(` or `[` applied to the value just before it: one more link in a chain."""
    if prev is None or tok.type != tokenize.OP or tok.string not in ".([":
        return False
    return prev.string in ")]" or prev.type in (tokenize.NAME, tokenize.STRING)


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    text = decode_source(data)
    check_parseable(text)
    return text
