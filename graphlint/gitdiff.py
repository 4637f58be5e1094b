"""`--diff-base REV`: the lines added or changed since REV, from `git diff -U0`, so a review sees only its own findings."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class DiffError(Exception):
    """git is missing, the folder is not a repository, or REV is unknown."""


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise DiffError(f"cannot run git: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise DiffError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout


class ChangedLines:
    """Which lines of which files (absolute paths) are new since the base revision; untracked files are new throughout."""

    def __init__(self, rev: str, cwd: Path | None = None) -> None:
        cwd = cwd or Path.cwd()
        self.top = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip()).resolve()
        try:
            _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], self.top)
        except DiffError:
            raise DiffError(f"unknown revision {rev!r}") from None
        self.lines: dict[Path, set[int]] = {}
        current: Path | None = None
        diff = _git(["diff", "-U0", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/", rev, "--"], self.top)
        for row in diff.splitlines():
            if row.startswith("+++ "):
                name = row[4:]
                current = None if name == "/dev/null" else (self.top / name[2:]).resolve()
                if current is not None:
                    self.lines.setdefault(current, set())
            elif current is not None and (m := _HUNK.match(row)):
                start, count = int(m.group(1)), int(m.group(2) or 1)
                self.lines[current].update(range(start, start + count))
        untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], self.top)
        self.new_files = {(self.top / name).resolve() for name in untracked.split("\0") if name}

    def contains(self, path: str, line: int) -> bool:
        full = Path(path).resolve()
        return full in self.new_files or line in self.lines.get(full, ())
