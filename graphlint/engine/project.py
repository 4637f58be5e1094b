"""The project-wide index: which module name is which file, built once per run.

A training script's ``from model import Net`` is followed into ``model.py`` only when
that file was among the paths given; anything else is a library and stays opaque.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphlint.files import SourceFile


@dataclass(frozen=True)
class ProjectIndex:
    # dotted module name -> the file's display path, for every spelling the module can be imported by
    modules: dict[str, str] = field(default_factory=dict)
    # display path -> the module's full dotted name (through every package above it)
    full_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, files: list["SourceFile"]) -> "ProjectIndex":
        modules: dict[str, str] = {}
        full_names: dict[str, str] = {}
        for f in files:
            path = f.path.resolve()
            parts = list(path.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            # every suffix of the path is a plausible import name (script dir or package root on sys.path)
            for start in range(len(parts) - 1, 0, -1):
                name = ".".join(parts[start:])
                modules.setdefault(name, f.display)
                full_names[f.display] = name
                if not (Path(*parts[:start]) / "__init__.py").exists() and start < len(parts) - 1:
                    break
        return cls(modules, full_names)

    def path_of(self, module: str) -> str | None:
        return self.modules.get(module)

    def name_of(self, path: str) -> str:
        """The module name a file is imported by, with its packages ('' when not among the files):
        relative imports in it resolve against this."""
        return self.full_names.get(path, "")
