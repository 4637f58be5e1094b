"""How fast is the static pass, next to TorchFix, on the two cases that matter?

1. Pre-commit: one ~300-line training script (benchmarks/data/trainer.py), wall time of
   the whole command, interpreter start included. Median of --repeat runs per tool, the
   two tools interleaved so that machine noise hits both alike.
2. A tree: files per second over a folder of a few hundred Python files (default: the
   sources of the `timm` sdist, fetched once with pip into --cache), median of
   --folder-repeat runs per tool.

Wall time is what the user waits for; CPU time (user+sys of the command and its workers)
is printed beside it because it stays meaningful on a busy machine.
Both tools run with their default parallelism (one worker per core) and graphlint without
its cache, so each run really analyses every file. Ratios > 1 mean graphlint is faster.

    python benchmarks/static_speed.py [--repeat 5] [--folder PATH] [--folder-repeat 3]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAINER = HERE / "data" / "trainer.py"
BIN = Path(sys.executable).parent
DEFAULT_SDIST = "timm==1.0.31"


def graphlint_cmd(paths: list[str]) -> list[str]:
    return [str(BIN / "graphlint"), "--no-cache", "--isolated", "--format", "json", *paths]


def torchfix_cmd(paths: list[str]) -> list[str]:
    return [str(BIN / "torchfix"), *paths]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of cmd."""
    cpu_before, start = cpu_of_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - start, cpu_of_children() - cpu_before
    if proc.returncode not in (0, 1) and "graphlint" in cmd[0]:
        # exit 2 = some files could not be analysed; still a valid timing, but say so
        print(f"  note: {Path(cmd[0]).name} exited {proc.returncode}: {proc.stderr.strip()[:200]}")
    return wall, cpu


def interleaved_medians(cmds: dict[str, list[str]], repeat: int, cwd: Path | None = None,
                        warm_up: bool = True) -> dict[str, tuple[float, float]]:
    """Per tool: (median wall, median CPU) seconds, the tools taking turns run by run."""
    for cmd in cmds.values() if warm_up else ():  # warm the page cache and .pyc files; not counted
        timed(cmd, cwd)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            runs[name].append(timed(cmd, cwd))
    medians = {}
    for name, rs in runs.items():
        wall, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        medians[name] = (wall, cpu)
        walls = ", ".join(f"{r[0]:.2f}" for r in rs)
        print(f"  {name:<10} median wall {wall:7.3f} s  CPU {cpu:7.3f} s   wall runs: {walls}")
    return medians


def verdict(ratio: float, target: str) -> str:
    return f"{ratio:.2f}x ({'OK' if ratio >= 1 else 'SLOWER'}; target: {target})"


def fetch_folder(spec: str, cache: Path) -> Path:
    """The Python sources of a PyPI sdist, downloaded once with pip's own client."""
    name = spec.split("==")[0]
    cache.mkdir(parents=True, exist_ok=True)
    existing = [p for p in cache.iterdir() if p.is_dir() and p.name.lower().replace("-", "_").startswith(name)]
    if existing:
        return existing[0]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    spec, "-d", str(cache)], check=True)
    archive = next(cache.glob(f"{name}*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return next(p for p in cache.iterdir() if p.is_dir() and p.name.startswith(name))


def count(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*.py") if not any(part.startswith(".") for part in p.parts)]
    return len(files), sum(len(p.read_bytes().splitlines()) for p in files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per tool on the single file (median)")
    ap.add_argument("--folder", type=Path, help="folder of Python files (default: the timm sdist's sources)")
    ap.add_argument("--folder-repeat", type=int, default=3, help="runs per tool on the folder (median)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "graphlint-bench")
    ap.add_argument("--skip-folder", action="store_true")
    args = ap.parse_args()
    if not shutil.which(str(BIN / "torchfix")):
        print("torchfix is not installed in this environment (pip install -r requirements-dev.txt)")
        return 2

    lines = len(TRAINER.read_text().splitlines())
    print(f"single file: {TRAINER.relative_to(HERE.parent)} ({lines} lines), median of {args.repeat}")
    single = interleaved_medians({"graphlint": graphlint_cmd([str(TRAINER)]),
                                  "torchfix": torchfix_cmd([str(TRAINER)])}, args.repeat)
    (g_wall, g_cpu), (t_wall, t_cpu) = single["graphlint"], single["torchfix"]
    print(f"  => graphlint/TorchFix speed ratio: wall {verdict(t_wall / g_wall, 'faster')}, CPU {t_cpu / g_cpu:.2f}x")
    if args.skip_folder:
        return 0

    folder = args.folder or fetch_folder(DEFAULT_SDIST, args.cache)
    n_files, n_lines = count(folder)
    print(f"\nfolder: {folder} ({n_files} files, {n_lines} lines), median of {args.folder_repeat}")
    tree = interleaved_medians({"graphlint": graphlint_cmd(["."]), "torchfix": torchfix_cmd(["."])},
                               args.folder_repeat, cwd=folder, warm_up=False)  # counting the lines warmed it
    for name, (wall, cpu) in tree.items():
        print(f"  {name:<10} {n_files / wall:7.1f} files/s  {n_lines / wall:9.0f} lines/s  "
              f"(CPU: {n_files / cpu:6.1f} files/s)")
    (g_wall, g_cpu), (t_wall, t_cpu) = tree["graphlint"], tree["torchfix"]
    print(f"  => per file, graphlint/TorchFix speed ratio: wall {verdict(t_wall / g_wall, 'no slower')}, "
          f"CPU {t_cpu / g_cpu:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
