"""Finding the Python files to check and reading them without ever importing or running them."""
from __future__ import annotations

import keyword
import os
import sys
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
# libcst's parse time grows faster than the square of a chain's length (`1 + 1 + ...`,
# `a[0][0]...`, `'a' 'b' ...`: 3,000 links take it seconds to minutes), and CPython compiles
# such chains up to about 3,000 links. A longer chain than this is handed to libcst as one
# opaque call whose arguments are the chain's operands, on the same lines: its parts are still
# read, its value is unknown (and unknown is silent).
MAX_CHAIN = 200
OPAQUE = "__graphlint_opaque__"
BINARY_OPERATORS = frozenset("+ - * / // % ** @ | & ^ << >> < > <= >= == !=".split())
# The recursion limit an interpreter starts with: whether CPython compiles a long chain depends on it.
PYTHON_RECURSION_LIMIT = 1000


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


def parseable_source(text: str) -> str:
    """The text to parse: refuse sources CPython refuses for their nesting (libcst would crash or
    stall on them), and flatten chains too long for libcst (see MAX_CHAIN), line numbers kept."""
    try:
        tokens = list(tokenize.generate_tokens(StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text  # the parser reports malformed source with a proper location
    longest_statement = _check_nesting(tokens)
    # a chain of MAX_CHAIN links needs twice as many tokens in one statement; most files have none
    edits = _long_chain_edits(tokens) if longest_statement > 2 * MAX_CHAIN else []
    if not edits:
        return text
    refusal = _python_refuses(text)
    if refusal:
        raise SourceError(refusal)
    lines = StringIO(text).readlines()  # the lines tokenize numbered
    for (row, col), old_length, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + old_length:]
    return "".join(lines)


def _check_nesting(tokens: list[tokenize.TokenInfo]) -> int:
    """Refuse what CPython refuses for its nesting; returns the most tokens in one statement."""
    brackets = indents = longest = start = 0
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NEWLINE:
            longest, start = max(longest, i - start), i
        elif tok.type == tokenize.OP and tok.string in "([{":
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
    return max(longest, len(tokens) - start)


class _Span:
    """The expression being read at one bracket depth: from the last separator (`,`, `=`, `:`,
    a keyword, a bracket) to the next, with its binary operators and the current operand's trailers."""

    def __init__(self) -> None:
        self.first: tokenize.TokenInfo | None = None
        self.last: tokenize.TokenInfo | None = None
        self.operators: list[tokenize.TokenInfo] = []  # binary operators, and strings joined to the one before
        self.operand: tokenize.TokenInfo | None = None  # where the current operand's primary starts
        self.trailers: list[tokenize.TokenInfo] = []  # `.name`, `(` or `[` applied to the current operand


def _long_chain_edits(tokens: list[tokenize.TokenInfo]) -> list[tuple[tuple[int, int], int, str]]:
    """(position, length replaced, new text) for every chain longer than MAX_CHAIN."""
    edits: list[tuple[tuple[int, int], int, str]] = []
    spans = [_Span()]
    prev: tokenize.TokenInfo | None = None

    def end_operand(span: _Span) -> None:
        links = sum(t.type == tokenize.OP for t in span.trailers)
        if links > MAX_CHAIN and span.operand is not None:
            # `a.b[i](x)` -> `OPAQUE(a  , OPAQUE[i], OPAQUE(x))`: attribute names are blanked out
            edits.append((span.operand.start, 0, f"{OPAQUE}("))
            for trailer in span.trailers:
                if trailer.string in "([":
                    edits.append((trailer.start, 0, f", {OPAQUE}"))
                else:
                    edits.append((trailer.start, len(trailer.string), " " * len(trailer.string)))
            edits.append((span.last.end, 0, ")"))
        span.operand, span.trailers = None, []

    def end_span(span: _Span) -> None:
        end_operand(span)
        if len(span.operators) > MAX_CHAIN and span.first is not None:
            # `a + b * c` -> `OPAQUE(a , b , c)`
            edits.append((span.first.start, 0, f"{OPAQUE}("))
            for op in span.operators:
                if op.type == tokenize.STRING:
                    edits.append((op.start, 0, ","))
                else:
                    edits.append((op.start, len(op.string), ",".ljust(len(op.string))))
            edits.append((span.last.end, 0, ")"))
        span.__init__()

    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        span = spans[-1]
        after_operand = _ends_operand(prev)
        if tok.type == tokenize.OP and tok.string in "([{":
            if after_operand and tok.string != "{":
                span.trailers.append(tok)
            else:
                _open(span, tok)
            span.last = tok
            spans.append(_Span())
        elif tok.type == tokenize.OP and tok.string in ")]}":
            if len(spans) > 1:
                end_span(spans.pop())
            spans[-1].last = tok
        elif tok.type == tokenize.OP and tok.string == "." and after_operand:
            span.trailers.append(tok)
            span.last = tok
        elif tok.type == tokenize.OP and tok.string in BINARY_OPERATORS and after_operand:
            end_operand(span)
            span.operators.append(tok)
            span.last = tok
        elif tok.type == tokenize.STRING and prev is not None and prev.type == tokenize.STRING:
            span.operators.append(tok)  # implicit concatenation: one more link
            span.last = tok
        elif _is_separator(tok):
            end_span(span)
        else:
            if span.trailers and span.trailers[-1] is prev and prev.string == "." and tok.type == tokenize.NAME:
                span.trailers.append(tok)  # the attribute's name
            else:
                _open(span, tok)
            span.last = tok
        prev = tok
    for span in spans:
        end_span(span)
    return edits


def _open(span: _Span, tok: tokenize.TokenInfo) -> None:
    """A token that starts or continues an operand's primary (not a trailer)."""
    if span.first is None:
        span.first = tok
    if span.operand is None and not (tok.type == tokenize.OP and tok.string in ("-", "+", "~", "*", "**")):
        span.operand = tok


def _ends_operand(tok: tokenize.TokenInfo | None) -> bool:
    if tok is None:
        return False
    if tok.type == tokenize.NAME:
        return not keyword.iskeyword(tok.string) or tok.string in ("True", "False", "None")
    return tok.type in (tokenize.NUMBER, tokenize.STRING) or tok.string in (")", "]", "}", "...")


def _is_separator(tok: tokenize.TokenInfo) -> bool:
    if tok.type == tokenize.NAME:
        return keyword.iskeyword(tok.string) and tok.string not in ("True", "False", "None")
    return tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER) or (
        tok.type == tokenize.OP and tok.string not in BINARY_OPERATORS and tok.string not in ".~" and tok.string != "...")


def _python_refuses(text: str) -> str | None:
    """CPython's verdict on a file with a long chain, under the recursion limit an interpreter
    starts with (ours is raised for analysis, and would let CPython accept what a user's refuses)."""
    raised = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(PYTHON_RECURSION_LIMIT)
        compile(text, "<source>", "exec", dont_inherit=True)
    except RecursionError:
        return "expression too complex: Python refuses it too (maximum recursion depth exceeded during compilation)"
    except (SyntaxError, ValueError, MemoryError):
        return None  # the parser reports it with a proper location
    finally:
        sys.setrecursionlimit(raised)
    return None


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return parseable_source(decode_source(data))
