"""Run the static pass over real open-source training code and print every finding.

Precision work: each finding on correct code is a bug in the analysis. This prints, per
folder, files, lines, findings per 1000 lines and errors; the totals by rule; then every
finding as `path:line: RULE message` with its source line, so that a person can read them
all. With --preflight it also runs torch-preflight (the nearest static peer) on the same
folders and prints its counts by rule beside ours.

The corpus is not part of the repository. To build one (sdists only, never installed):

    pip download --no-deps --no-binary :all: lightning pytorch-ignite stable-baselines3 ... -d /tmp/realcode/sdists
    for f in /tmp/realcode/sdists/*.tar.gz; do tar xzf "$f" -C /tmp/realcode/src; done

    python benchmarks/real_code.py /tmp/realcode/src/*/ [--preflight /path/to/torch-preflight]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent


def python_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    skip = {".venv", "venv", "build", "dist", "site-packages", "node_modules", "__pycache__"}
    return [p for p in folder.rglob("*.py")
            if not any(part in skip or part.startswith(".") for part in p.relative_to(folder).parts[:-1])]


def line_count(files: list[Path]) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in files)


def run_json(cmd: list[str], cwd: Path) -> dict:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"{cmd[0]} gave no JSON (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")


def graphlint(folder: Path, root: Path) -> dict:
    rel = str(folder.resolve().relative_to(root))
    return run_json([str(BIN / "graphlint"), "--no-cache", "--isolated", "--format", "json", rel], cwd=root)


def preflight(exe: str, folder: Path, root: Path) -> Counter:
    rel = str(folder.resolve().relative_to(root))
    doc = run_json([exe, "check", "-f", "json", "--fail-on", "error", rel], cwd=root)
    return Counter(d["code"] for d in doc.get("diagnostics", []))


def source_line(root: Path, path: str, line: int) -> str:
    try:
        return (root / path).read_text(encoding="utf-8", errors="replace").splitlines()[line - 1].strip()
    except (OSError, IndexError):
        return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--preflight", metavar="EXE", help="torch-preflight executable to run side by side")
    ap.add_argument("--json", type=Path, help="also write every finding and error here")
    args = ap.parse_args()
    folders = [f.resolve() for f in args.folders]
    root = Path(*_common([f.parent for f in folders]))

    rows, findings, errors, ours, theirs = [], [], [], Counter(), Counter()
    print(f"{'folder':<40} {'files':>6} {'lines':>8} {'findings':>8} {'/kLOC':>6} {'errors':>6}"
          + ("  preflight" if args.preflight else ""))
    for folder in folders:
        files = python_files(folder)
        lines = line_count(files)
        doc = graphlint(folder, root)
        findings += doc["findings"]
        errors += doc["errors"]
        ours.update(f["rule"] for f in doc["findings"])
        extra = ""
        if args.preflight:
            counts = preflight(args.preflight, folder, root)
            theirs.update(counts)
            extra = f"  {sum(counts.values()):>9}"
        n = len(doc["findings"])
        rows.append((len(files), lines, n))
        print(f"{folder.name[:40]:<40} {len(files):>6} {lines:>8} {n:>8} {1000 * n / max(lines, 1):>6.2f} "
              f"{len(doc['errors']):>6}{extra}")
    total_files, total_lines, total = (sum(col) for col in zip(*rows))
    print(f"{'TOTAL':<40} {total_files:>6} {total_lines:>8} {total:>8} {1000 * total / max(total_lines, 1):>6.2f} "
          f"{len(errors):>6}" + (f"  {sum(theirs.values()):>9}" if args.preflight else ""))

    print("\ngraphlint findings by rule:")
    names = {f["rule"]: f["name"] for f in findings}
    for rule, n in sorted(ours.items()):
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
        print(f"    | {source_line(root, f['path'], f['line'])}")
    if args.json:
        args.json.write_text(json.dumps({"root": str(root), "findings": findings, "errors": errors}, indent=1))
    return 0


def _common(folders: list[Path]) -> tuple[str, ...]:
    parts = list(zip(*(f.parts for f in folders)))
    common = []
    for column in parts:
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return tuple(common)


if __name__ == "__main__":
    sys.exit(main())
