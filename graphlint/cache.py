"""A content-hash cache of each file's engine findings, so a repeated run on an unchanged tree is near-instant.

The key of a file covers everything its findings depend on: graphlint's own code, the analysis
options, the file's bytes, and the bytes of every file of the run it could import — the engine
follows `from model import Net` into `model.py` when both are checked. "Could import" is
decided conservatively and the way the engine resolves imports (`ProjectIndex`): every run file
that an import statement of the file names, or any submodule of it, followed transitively.
Keys are built over the import graph's strongly connected components, so the work stays linear
in the size of the run even where every file of a package imports the package. Only successful analyses
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
from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.files import SourceFile
from graphlint.findings import Finding, Location, Severity

DIRNAME = ".graphlint_cache"
LAYOUT = "v1"
# `import a.b as c, d` and `from .a import ...`, at the start of a line, after `;` or `:`, or after
# the quote that opens a line of a notebook cell; text in strings that looks like an import only
# adds a dependency, which is the safe direction.
_IMPORT = re.compile(rb'(?:^|[;:"])[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]*import\b|import[ \t]+([^\n#;"\\]+))', re.M)


def _code_fingerprint() -> str:
    """graphlint's version plus the size and mtime of its sources and knowledge tables, so a development edit is
    never served stale."""
    root = Path(graphlint.__file__).parent
    h = hashlib.sha256(graphlint.__version__.encode())
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.toml")]):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def imported_modules(data: bytes, module_name: str, is_package: bool) -> set[str]:
    """The dotted module names a file's import statements name; relative ones made absolute
    against the file's package (as `ScopeIndex` does)."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    found: set[str] = set()
    matches = (m for line in data.splitlines() if b"import" in line for m in _IMPORT.finditer(line))
    for match in matches:  # an import statement names its module on the line of its `import`
        source, names = match.group(1), match.group(2)
        if source is not None:
            dotted = source.decode("ascii", "replace")
            module = dotted.lstrip(".")
            level = len(dotted) - len(module)
            if level:
                parts = package.split(".") if package else []
                if level - 1 > len(parts):
                    continue  # above the top package: Python refuses it
                module = ".".join(parts[:len(parts) - level + 1] + ([module] if module else []))
            if module:
                found.add(module)
        else:
            for item in names.decode("ascii", "replace").split(","):
                name = item.split(" as ")[0].strip(" \t()\\\r")
                if name:
                    found.add(name)
    return found


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

    def plan(self, files: list[SourceFile], project: ProjectIndex) -> None:
        """Compute each file's key from its content and its conservative import closure within the run."""
        content: dict[str, bytes] = {}
        for f in files:
            try:
                content[f.display] = f.path.read_bytes()
            except OSError:
                continue  # unreadable: no key, so it is analysed and its error reported
        imports = {
            d: {dep for name in imported_modules(data, project.name_of(d), d.endswith("__init__.py"))
                for dep in project.files_under(name, d) if dep != d and dep in content}
            for d, data in content.items()
        }
        digest = {d: hashlib.sha256(data).hexdigest() for d, data in content.items()}
        component_key: dict[str, str] = {}
        for members in _components(imports):
            # a component's key covers its members' contents and the keys of the components they import
            inside = set(members)
            after = {component_key[dep] for d in members for dep in imports[d] if dep not in inside}
            parts = [self.salt, *sorted(f"{d}={digest[d]}" for d in members), *sorted(after)]
            key = hashlib.sha256("\n".join(parts).encode()).hexdigest()
            for d in members:
                component_key[d] = key
                self.keys[d] = hashlib.sha256(f"{key}\n{d}".encode()).hexdigest()

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


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's, iterative), each listed after every component it reaches."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while not members or members[-1] != node:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                found.append(members)
    return found
