"""The run's files, where an import in one of them leads, and the modules parsed so far.

A training script's ``from model import Net`` is followed into ``model.py`` only when that file
is among the paths given; anything else is a library and stays opaque. Which ``model.py`` is
decided as Python would decide it when the importing file runs: ``sys.path`` holds the file's
own folder (a script's folder comes first) and the root above its package (the first folder,
walking up, without an ``__init__.py``). So two projects checked in one run never see each
other's ``model.py`` or ``utils.py``, and a module shadowed by a file outside the run (an
excluded ``utils.py`` beside the script) is not replaced by a same-named file elsewhere.

Each module is parsed once per process and shared by every file that imports it; the parsed
modules stay in this process (they are never sent to worker processes) and the least recently
used are dropped beyond a bound, so memory does not grow with the size of the run.
"""
from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from graphlint.files import SourceError, SourceFile, read_source

if TYPE_CHECKING:  # parsing loads libcst; the index alone (all a fully cached run needs) does not
    from graphlint.engine.module import ModuleAnalysis

# per process, ~5 MB per 1,000 lines parsed: a module imported by many files stays, one-off scripts leave
PARSED_MODULES_KEPT = 64


class ProjectIndex:
    def __init__(self, files: list[SourceFile] | None = None) -> None:
        self._display: dict[str, str] = {}  # real path -> display path, for every file of the run
        self._real: dict[str, str] = {}  # display path -> real path
        for f in files or ():
            real = os.path.realpath(f.path)
            self._display.setdefault(real, f.display)
            self._real.setdefault(f.display, real)
        self._sorted_real = sorted(self._display)  # for "every run file inside this folder"
        self._is_file: dict[str, bool] = {}
        self._located: dict[tuple[str, str], str | None] = {}  # (importer's folder, module) -> where it is
        self._roots: dict[str, list[str]] = {}  # a folder -> sys.path for the files in it
        self._parsed: OrderedDict[str, ModuleAnalysis | None] = OrderedDict()

    @classmethod
    def from_files(cls, files: list[SourceFile]) -> ProjectIndex:
        return cls(files)

    def __getstate__(self) -> dict:
        """Workers get the index, never the parsed modules: they parse (once each) what they need."""
        return {**self.__dict__, "_parsed": OrderedDict()}

    # -- where an import leads --------------------------------------------------------------
    def search_roots(self, importer: str) -> list[str]:
        """The folders on sys.path when ``importer`` (a display path) runs: its own folder, then the
        root above its package."""
        folder = os.path.dirname(self._real_path(importer))
        roots = self._roots.get(folder)
        if roots is None:
            top = folder
            while self._exists(os.path.join(top, "__init__.py")) and os.path.dirname(top) != top:
                top = os.path.dirname(top)
            roots = self._roots[folder] = [folder] if top == folder else [folder, top]
        return roots

    def locate(self, module: str, importer: str) -> str | None:
        """The real path ``import module`` loads from ``importer``: a module's file, a package's
        ``__init__.py``, or the folder of a namespace package; None when no folder on sys.path has it."""
        key = (os.path.dirname(self._real_path(importer)), module)
        if key not in self._located:
            self._located[key] = self._search(module.split("."), self.search_roots(importer))
        return self._located[key]

    def _search(self, parts: list[str], roots: list[str]) -> str | None:
        if not all(parts):
            return None  # a relative import above the top package: Python refuses it
        namespace = None
        for root in roots:
            top = os.path.join(root, parts[0])
            if self._exists(os.path.join(top, "__init__.py")) or self._exists(top + ".py"):
                return self._inside(root, parts)
            if namespace is None and os.path.isdir(top):
                namespace = root  # a regular package or module on a later root still wins
        return self._inside(namespace, parts) if namespace is not None else None

    def _inside(self, root: str, parts: list[str]) -> str | None:
        """Within the root that holds the top-level name: a package before a module file of the same name."""
        base = os.path.join(root, *parts)
        if self._exists(os.path.join(base, "__init__.py")):
            return os.path.join(base, "__init__.py")
        if self._exists(base + ".py"):
            return base + ".py"
        return base if os.path.isdir(base) else None

    def path_of(self, module: str, importer: str) -> str | None:
        """The display path of the run file that ``import module`` in ``importer`` loads; None for libraries."""
        if not self._display:
            return None  # nothing of the run to follow into (a single snippet, a notebook alone)
        found = self.locate(module, importer)
        return self._display.get(found) if found is not None else None

    def files_under(self, module: str, importer: str) -> list[str]:
        """Display paths of the run files that ``import module`` or any of its submodules can load."""
        found = self.locate(module, importer)
        if found is None:
            return []
        if found.endswith(".py") and os.path.basename(found) != "__init__.py":
            return [self._display[found]] if found in self._display else []
        folder = found if not found.endswith(".py") else os.path.dirname(found)
        start = bisect.bisect_left(self._sorted_real, folder + os.sep)
        end = bisect.bisect_left(self._sorted_real, folder + os.sep + "\U0010ffff")
        return [self._display[p] for p in self._sorted_real[start:end]]

    def name_of(self, path: str) -> str:
        """The dotted name a file is imported by, through every package above it (relative imports
        in it resolve against this); the file name alone for a script outside any package."""
        folder, stem = os.path.split(os.path.splitext(self._real_path(path))[0])
        parts = [] if stem == "__init__" else [stem]
        while self._exists(os.path.join(folder, "__init__.py")) and os.path.dirname(folder) != folder:
            folder, package = os.path.split(folder)
            parts.append(package)
        return ".".join(reversed(parts))

    def _real_path(self, display: str) -> str:
        return self._real.get(display) or os.path.realpath(display)

    def _exists(self, path: str) -> bool:
        """Is there a file here (a run file, or one on disk): asked of the disk once per path."""
        known = self._is_file.get(path)
        if known is None:
            known = self._is_file[path] = path in self._display or os.path.isfile(path)
        return known

    # -- parsed modules ---------------------------------------------------------------------
    def module(self, path: str, text: str | None = None) -> ModuleAnalysis:
        """The parsed module of a run file, parsed on first use; ``text`` when the caller has read it.
        Parse errors propagate to the caller."""
        kept = self._parsed.get(path)
        if kept is not None and (text is None or kept.text == text):
            self._parsed.move_to_end(path)
            return kept
        from graphlint.engine.module import ModuleAnalysis

        parsed = ModuleAnalysis(read_source(Path(path)) if text is None else text, path, self.name_of(path))
        if path in self._real:  # only run files can be imported; a notebook's text or a test's snippet is not kept
            self._keep(path, parsed)
        return parsed

    def load(self, module: str, importer: str) -> ModuleAnalysis | None:
        """The module ``import module`` in ``importer`` loads, when it is a file of the run that parses."""
        path = self.path_of(module, importer)
        if path is None:
            return None
        if path in self._parsed:
            self._parsed.move_to_end(path)
            return self._parsed[path]
        import libcst as cst

        try:
            return self.module(path)
        except (SourceError, cst.ParserSyntaxError, NotImplementedError, ValueError, RecursionError):
            self._keep(path, None)  # a broken import is a library to its importers; its own run reports it
            return None

    def _keep(self, path: str, parsed: ModuleAnalysis | None) -> None:
        self._parsed[path] = parsed
        self._parsed.move_to_end(path)
        while len(self._parsed) > PARSED_MODULES_KEPT:
            self._parsed.popitem(last=False)
