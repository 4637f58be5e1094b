"""A content-hash cache of each file's engine findings, so a repeated run on an unchanged tree is near-instant.

The key of a file covers everything its findings depend on: graphlint's own code, the analysis
options, the file's bytes, and the bytes of every file of the run it could import — the engine
follows `from model import Net` into `model.py` when both are checked. "Could import" is
decided conservatively: a run file whose module name (file stem, or package folder for
`__init__.py`) appears as a word in this file, followed transitively. Only successful analyses
are stored: a file that failed is analysed (and fails) again, never passed from the cache.
What the cache holds is the engine's raw output; selection, severities, noqa and baselines are
applied afterwards, so changing them never needs a fresh analysis.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import graphlint
from graphlint.engine import AnalysisOptions
from graphlint.files import SourceFile
from graphlint.findings import Finding, Location, Severity

DIRNAME = ".graphlint_cache"
LAYOUT = "v1"
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _code_fingerprint() -> str:
    """graphlint's version plus the size and mtime of its sources and knowledge tables, so a development edit is
    never served stale."""
    root = Path(graphlint.__file__).parent
    h = hashlib.sha256(graphlint.__version__.encode())
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.toml")]):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def _module_name(path: Path) -> str:
    return path.parent.name if path.stem == "__init__" else path.stem


def _finding_from(doc: dict) -> Finding:
    return Finding(
        rule=doc["rule"], name=doc["name"], category=doc["category"], severity=Severity(doc["severity"]),
        path=doc["path"], line=doc["line"], column=doc["column"], end_line=doc["end_line"],
        end_column=doc["end_column"], message=doc["message"], pass_=doc["pass"],
        related=tuple(Location(**loc) for loc in doc.get("related", ())), cell=doc.get("cell"),
    )


class Cache:
    def __init__(self, folder: Path, options: AnalysisOptions) -> None:
        self.folder = folder
        self.salt = hashlib.sha256(f"{_code_fingerprint()}|{options!r}".encode()).hexdigest()
        self.keys: dict[str, str] = {}  # display path -> key, for the files that could be hashed

    def plan(self, files: list[SourceFile]) -> None:
        """Compute each file's key from its content and its conservative import closure within the run."""
        content: dict[str, bytes] = {}
        for f in files:
            try:
                content[f.display] = f.path.read_bytes()
            except OSError:
                continue  # unreadable: no key, so it is analysed and its error reported
        digest = {d: hashlib.sha256(data).hexdigest() for d, data in content.items()}
        by_module: dict[str, list[str]] = {}
        for f in files:
            if f.display in content:
                by_module.setdefault(_module_name(f.path), []).append(f.display)
        direct = {
            d: {dep for word in set(_WORD.findall(data)) for dep in by_module.get(word.decode(), ()) if dep != d}
            for d, data in content.items()
        }
        for d in content:
            closure, todo = set(), [d]
            while todo:
                for dep in direct[todo.pop()]:
                    if dep not in closure:
                        closure.add(dep)
                        todo.append(dep)
            parts = [self.salt, d, digest[d]] + sorted(f"{dep}={digest[dep]}" for dep in closure)
            self.keys[d] = hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.folder / LAYOUT / key[:2] / f"{key}.json"

    def get(self, display: str) -> list[Finding] | None:
        key = self.keys.get(display)
        if key is None:
            return None
        try:
            doc = json.loads(self._entry(key).read_text(encoding="utf-8"))
            return [_finding_from(d) for d in doc["findings"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a missing or damaged entry is a miss

    def put(self, display: str, findings: list[Finding]) -> None:
        key = self.keys.get(display)
        if key is None:
            return
        entry = self._entry(key)
        try:
            self._prepare()
            entry.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=entry.parent, delete=False, suffix=".tmp", encoding="utf-8") as tmp:
                json.dump({"findings": [f.to_dict() for f in findings]}, tmp)
            os.replace(tmp.name, entry)
        except OSError:
            pass  # a read-only tree still gets its results, just not cached

    def _prepare(self) -> None:
        """Create the folder with a .gitignore of its own, so it never shows up in `git status`."""
        if not (self.folder / ".gitignore").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / ".gitignore").write_text("# created by graphlint\n*\n", encoding="utf-8")
            (self.folder / "CACHEDIR.TAG").write_text(
                "Signature: 8a477f597d28d172789f06886806bc55\n# graphlint result cache\n", encoding="utf-8")
