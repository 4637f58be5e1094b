"""Run the static pass over real open-source training code and measure its precision.

Precision work: each finding on correct code is a bug in the analysis. The corpus is the
training code (scripts, examples, recipes, trainers, RL algorithms) of the pinned PyPI
packages in `real_code_corpus.toml`; it is not part of the repository:

    python benchmarks/real_code.py --fetch     # pip download, extract to $GRAPHLINT_REALCODE or /work/realcode
    python benchmarks/real_code.py             # run graphlint over the training files, compare with the verdicts
    python benchmarks/real_code.py --project cleanrl --project timm    # only these
    python benchmarks/real_code.py --preflight /path/to/torch-preflight  # its counts beside ours

Which files count as training files (the selection rule, applied here, never by hand): a
`.py` file under one of the project's `include` globs, not under a tests/docs folder, whose
text has a training marker (`.backward(`, `def training_step`, `manual_backward(`,
`autograd.grad(`). The list is written to `<cache>/training_files.txt` for other tools.

graphlint runs once per project over that project's training files (so a script sees the
modules it imports when they are training files of the same project, as a user running
`graphlint scripts/` would), from the corpus root, so paths read `package-version/...`.
The output: files, lines, findings and errors per project; totals by rule; every finding
with its source line; then the comparison with `real_code_findings.tsv` (one verdict per
finding, judged by reading it in context): findings not yet judged, judged findings that
disappeared, and judged precision overall and per rule, where
precision = (real bug + true but harmless) / all judged findings of this run; a wrong finding's
`mechanism` names the analysis gap behind it (each explained with a minimal example in real_code_mechanisms.md).
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "real_code_corpus.toml"
VERDICTS = HERE / "real_code_findings.tsv"
BIN = Path(sys.executable).parent
DEFAULT_CACHE = Path(os.environ.get("GRAPHLINT_REALCODE", "/work/realcode"))
GOOD = {"real bug", "true but harmless"}
VERDICT_NAMES = GOOD | {"wrong"}
COLUMNS = ["path", "line", "rule", "verdict", "why", "mechanism"]   # mechanism: why a wrong finding is wrong


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    dist: str            # "sdist" or "wheel": which artifact pip downloads
    include: tuple[str, ...]
    why: str

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class Selection:
    markers: re.Pattern
    exclude: tuple[str, ...]


def load_manifest(path: Path = MANIFEST) -> tuple[Selection, list[Project]]:
    doc = tomllib.loads(path.read_text())
    sel = doc["selection"]
    selection = Selection(re.compile("|".join(re.escape(m) for m in sel["markers"])), tuple(sel["exclude"]))
    projects = [Project(p["name"], p["version"], p.get("dist", "sdist"), tuple(p["include"]), p.get("why", ""))
                for p in doc["project"]]
    return selection, projects


# --- fetching -------------------------------------------------------------------------------

def fetch(project: Project, cache: Path) -> None:
    """Download the pinned artifact with pip (never installed) and extract it to cache/<name>-<version>/."""
    target = cache / project.folder
    if target.is_dir():
        return
    dists = cache / "dists" / project.folder
    if not dists.is_dir() or len(list(dists.iterdir())) != 1:   # else: downloaded before, extract again
        shutil.rmtree(dists, ignore_errors=True)
        binary = ["--no-binary", ":all:"] if project.dist == "sdist" else ["--only-binary", ":all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *binary,
                        f"{project.name}=={project.version}", "-d", str(dists)], check=True)
    (artifact,) = dists.iterdir()
    tmp = cache / (project.folder + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    if artifact.suffix in (".whl", ".zip"):
        zipfile.ZipFile(artifact).extractall(tmp)
    else:
        with tarfile.open(artifact) as tar:
            tar.extractall(tmp, filter="data")
    inner = list(tmp.iterdir())
    root = inner[0] if project.dist == "sdist" and len(inner) == 1 and inner[0].is_dir() else tmp
    root.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)


# --- selection ------------------------------------------------------------------------------

def training_files(project: Project, selection: Selection, cache: Path) -> list[str]:
    """Paths relative to the corpus root of the project's training files, by the selection rule."""
    base = cache / project.folder
    picked = set()
    for pattern in project.include:
        for p in base.glob(pattern):
            rel = p.relative_to(base).as_posix()
            if not p.is_file() or p.suffix != ".py" or any(fnmatch.fnmatch(rel, x) for x in selection.exclude):
                continue
            if selection.markers.search(p.read_text(encoding="utf-8", errors="replace")):
                picked.add(f"{project.folder}/{rel}")
    return sorted(picked)


# --- running --------------------------------------------------------------------------------

def run_json(cmd: list[str], cache: Path) -> dict:
    proc = subprocess.run(["nice", *cmd], cwd=cache, capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"{cmd[0]} gave no JSON (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")


def graphlint(files: list[str], cache: Path) -> dict:
    return run_json([str(BIN / "graphlint"), "--no-cache", "--isolated", "--format", "json", *files], cache)


def preflight(exe: str, files: list[str], cache: Path) -> Counter:
    """torch-preflight (the nearest static peer) on the same files: its diagnostics by rule."""
    doc = run_json([exe, "check", "-f", "json", "--fail-on", "error", *files], cache)
    return Counter(d["code"] for d in doc.get("diagnostics", []))


def source_line(cache: Path, path: str, line: int) -> str:
    try:
        return (cache / path).read_text(encoding="utf-8", errors="replace").splitlines()[line - 1].strip()
    except (OSError, IndexError):
        return ""


# --- verdicts -------------------------------------------------------------------------------

Key = tuple[str, int, str]


def load_verdicts(path: Path = VERDICTS) -> dict[Key, dict]:
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for r in rows:
        if r["verdict"] not in VERDICT_NAMES:
            sys.exit(f"{path.name}: {r['path']}:{r['line']}: unknown verdict {r['verdict']!r}")
    return {(r["path"], int(r["line"]), r["rule"]): r for r in rows}


def precision(rows: list[dict]) -> str:
    good = sum(r["verdict"] in GOOD for r in rows)
    return f"{good / len(rows):.2f} ({good}/{len(rows)})" if rows else "-"


def compare(findings: list[dict], verdicts: dict[Key, dict], projects: list[Project], cache: Path) -> None:
    """Findings not yet judged, judged findings that disappeared (within the projects run), precision."""
    keys = {(f["path"], f["line"], f["rule"]) for f in findings}
    new = sorted(k for k in keys if k not in verdicts)
    ran = tuple(p.folder + "/" for p in projects)
    gone = sorted(k for k in verdicts if k not in keys and k[0].startswith(ran))
    judged = [verdicts[k] for k in sorted(keys) if k in verdicts]

    print(f"\nnot yet judged ({len(new)}):")
    for path, line, rule in new:
        print(f"  {path}:{line}: {rule}    | {source_line(cache, path, line)}")
    print(f"judged findings that disappeared ({len(gone)}):")
    for k in gone:
        print(f"  {k[0]}:{k[1]}: {k[2]} (was {verdicts[k]['verdict']}: {verdicts[k]['why']})")
    print(f"\njudged precision of this run: {precision(judged)}; {len(new)} findings unjudged "
          f"(all {len(verdicts)} verdicts on file: {precision(list(verdicts.values()))})")
    print(f"  verdicts: {dict(Counter(r['verdict'] for r in judged))}")
    for rule in sorted({r["rule"] for r in judged}):
        print(f"  {rule} {precision([r for r in judged if r['rule'] == rule])}")
    print("wrong findings of this run by mechanism:")
    for mechanism, n in Counter(r["mechanism"] for r in judged if r["verdict"] == "wrong").most_common():
        print(f"  {n:>4}  {mechanism}")


def write_verdict_stub(findings: list[dict], verdicts: dict[Key, dict], path: Path) -> None:
    """The TSV with the run's unjudged findings appended (verdict empty), for a person to fill in."""
    rows = list(verdicts.values())
    for f in sorted(findings, key=lambda f: (f["path"], f["line"], f["rule"])):
        if (f["path"], f["line"], f["rule"]) not in verdicts:
            rows.append({"path": f["path"], "line": f["line"], "rule": f["rule"],
                         "verdict": "", "why": "", "mechanism": ""})
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: (r["path"], int(r["line"]), r["rule"])))


# --- main -----------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help="corpus root (default $GRAPHLINT_REALCODE or %(default)s)")
    ap.add_argument("--fetch", action="store_true",
                    help="download and extract the manifest's packages, write the file list")
    ap.add_argument("--project", action="append", help="only this project (repeatable)")
    ap.add_argument("--json", type=Path, help="also write every finding and error here")
    ap.add_argument("--preflight", metavar="EXE", help="torch-preflight executable to run side by side")
    ap.add_argument("--stub", type=Path,
                    help="write the verdicts TSV plus this run's unjudged findings (empty verdict) here")
    args = ap.parse_args()
    cache = args.cache.resolve()
    selection, projects = load_manifest()
    if args.project:
        unknown = set(args.project) - {p.name for p in projects}
        if unknown:
            sys.exit(f"not in the manifest: {', '.join(sorted(unknown))}")
        projects = [p for p in projects if p.name in args.project]

    if args.fetch:
        for p in projects:
            print(f"fetching {p.folder}", flush=True)
            fetch(p, cache)
    missing = [p.folder for p in projects if not (cache / p.folder).is_dir()]
    if missing:
        sys.exit(f"not fetched into {cache}: {', '.join(missing)} (run with --fetch)")
    selected = {p.name: training_files(p, selection, cache) for p in projects}
    if not args.project:
        listing = cache / "training_files.txt"
        listing.write_text("".join(f"{cache / f}\n" for files in selected.values() for f in files))
        print(f"{sum(map(len, selected.values()))} training files of {len(projects)} projects listed in {listing}")
    if args.fetch:
        return 0

    findings, errors, by_rule, theirs, rows = [], [], Counter(), Counter(), []
    print(f"{'project':<36} {'files':>6} {'lines':>8} {'findings':>8} {'/kLOC':>6} {'errors':>6}"
          + ("  preflight" if args.preflight else ""))
    for p in projects:
        files = selected[p.name]
        lines = sum(len((cache / f).read_bytes().splitlines()) for f in files)
        doc = graphlint(files, cache) if files else {"findings": [], "errors": []}
        findings += doc["findings"]
        errors += doc["errors"]
        by_rule.update(f["rule"] for f in doc["findings"])
        n = len(doc["findings"])
        rows.append((len(files), lines, n, len(doc["errors"])))
        extra = ""
        if args.preflight and files:
            counts = preflight(args.preflight, files, cache)
            theirs.update(counts)
            extra = f"  {sum(counts.values()):>9}"
        print(f"{p.folder[:36]:<36} {len(files):>6} {lines:>8} {n:>8} {1000 * n / max(lines, 1):>6.2f} "
              f"{len(doc['errors']):>6}{extra}", flush=True)
    files_n, lines_n, total, errors_n = (sum(col) for col in zip(*rows))
    print(f"{'TOTAL (' + str(len(projects)) + ' projects)':<36} {files_n:>6} {lines_n:>8} {total:>8} "
          f"{1000 * total / max(lines_n, 1):>6.2f} {errors_n:>6}"
          + (f"  {sum(theirs.values()):>9}" if args.preflight else ""))

    print("\nfindings by rule:")
    names = {f["rule"]: f["name"] for f in findings}
    for rule, n in sorted(by_rule.items()):
        print(f"  {rule} {names[rule]:<36} {n}")
    if args.preflight:
        print("torch-preflight diagnostics by rule:")
        for rule, n in sorted(theirs.items()):
            print(f"  {rule} {n}")
    if errors:
        print(f"\nfiles that could not be analysed ({len(errors)}):")
        for e in errors:
            print(f"  {e['path']}: {e['message']}")
    print(f"\nevery finding ({len(findings)}), with its source line:")
    for f in sorted(findings, key=lambda f: (f["path"], f["line"], f["rule"])):
        print(f"{f['path']}:{f['line']}:{f['column']}: {f['rule']} {f['message']}")
        print(f"    | {source_line(cache, f['path'], f['line'])}")

    verdicts = load_verdicts()
    compare(findings, verdicts, projects, cache)
    if args.json:
        args.json.write_text(json.dumps({"root": str(cache), "findings": findings, "errors": errors}, indent=1))
    if args.stub:
        write_verdict_stub(findings, verdicts, args.stub)
    return 0


if __name__ == "__main__":
    sys.exit(main())
