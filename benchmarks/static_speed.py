"""How fast is the static pass, next to TorchFix, on real training code? All ratios from one run.

1. Pre-commit: one ~300-line training script (benchmarks/data/trainer.py), wall time of the
   whole command, interpreter start included; graphlint should take at most half TorchFix's time.
2. A cold run over a corpus of real training files (at least 200 files of at least 10
   projects): files per second next to TorchFix on the same files (target: 1.5x or more).
3. Scaling: lines per second on a quarter, a half and all of the corpus (every 4th, every 2nd
   and every file, so each share mixes the projects alike); they should agree within 20 %.
4. A re-run of the whole corpus with the result cache warm: at most 0.3 s.

Each measurement is the median of --repeat runs, the tools taking turns run by run so that
machine noise hits both alike. Wall time is what the user waits for; CPU time (user+sys of
the command and its workers) is printed beside it because it stays meaningful on a busy
machine. Both tools run with their default parallelism (one worker per core); cold runs of
graphlint use --no-cache, so each really analyses every file.

The corpus is a folder (every .py file under it) or a text file listing one path per line.
To build one from PyPI sources (pip's own client, sdists only):

    mkdir -p corpus/sdists corpus/src && cd corpus
    for p in pytorch-ignite stable-baselines3 lightly skorch poutyne d2l timm accelerate torchgeo \\
             pytorch-metric-learning open_clip_torch denoising-diffusion-pytorch avalanche-lib gpytorch \\
             pyro-ppl kornia torch_geometric botorch; do
        pip download -q --no-binary :all: --no-deps "$p" -d sdists; done
    for f in sdists/*.tar.gz; do tar -xzf "$f" -C src; done
    grep -rlE '\\.backward\\(|def training_step' --include=*.py src | sort > training_files.txt

    python benchmarks/static_speed.py corpus/training_files.txt
"""
from __future__ import annotations

import argparse
import compileall
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAINER = HERE / "data" / "trainer.py"
BIN = Path(sys.executable).parent
MIN_FILES, MIN_PROJECTS = 200, 10


def graphlint_cmd(paths: list[str], cached: bool = False) -> list[str]:
    return [str(BIN / "graphlint"), *([] if cached else ["--no-cache"]), "--isolated", "--format", "json", *paths]


def torchfix_cmd(paths: list[str]) -> list[str]:
    return [str(BIN / "torchfix"), *paths]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of cmd."""
    cpu_before, start = cpu_of_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - start, cpu_of_children() - cpu_before
    if "graphlint" in Path(cmd[0]).name:
        if proc.returncode not in (0, 1):
            print(f"  note: graphlint exited {proc.returncode}: {proc.stderr.strip()[:200]}")
        errors = json.loads(proc.stdout).get("errors", []) if proc.stdout.startswith("{") else []
        if errors:
            print(f"  note: {len(errors)} files not analysed, e.g. {errors[0]['path']}: {errors[0]['message']}")
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


def corpus_files(spec: Path) -> list[str]:
    if spec.is_dir():
        return sorted(str(p) for p in spec.rglob("*.py") if not any(part.startswith(".") for part in p.parts))
    return [line.strip() for line in spec.read_text().splitlines() if line.strip()]


def project_of(path: str, files: list[str]) -> str:
    """The top folder below the corpus' common root: one unpacked sdist or repository."""
    root = Path(*Path(files[0]).parts[:len(_common_parts(files))])
    return Path(path).relative_to(root).parts[0]


def _common_parts(files: list[str]) -> tuple[str, ...]:
    parts = [Path(f).parent.parts for f in files]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return tuple(common)


def lines_of(files: list[str]) -> int:
    return sum(len(Path(f).read_bytes().splitlines()) for f in files)


def check(ok: bool, text: str) -> str:
    return f"{text} [{'OK' if ok else 'MISSED'}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="folder of training files, or a file listing one path per line")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and measurement (median)")
    ap.add_argument("--single-repeat", type=int, default=5, help="runs per tool on the single file (median)")
    args = ap.parse_args()
    # Both tools start from bytecode, as installed packages do (pip compiles TorchFix's at install); a checkout run
    # with PYTHONDONTWRITEBYTECODE would otherwise compile graphlint's own modules on every run.
    compileall.compile_dir(str(HERE.parent / "graphlint"), quiet=1)
    if not shutil.which(str(BIN / "torchfix")):
        print("torchfix is not installed in this environment (pip install -r requirements-dev.txt)")
        return 2
    files = corpus_files(args.corpus)
    projects = {project_of(f, files) for f in files}
    print(f"corpus: {len(files)} files, {lines_of(files)} lines, {len(projects)} projects")
    if len(files) < MIN_FILES or len(projects) < MIN_PROJECTS:
        print(f"  note: the targets are stated for at least {MIN_FILES} files of {MIN_PROJECTS} projects")
    verdicts = []

    lines = len(TRAINER.read_text().splitlines())
    print(f"\n1. single file: {TRAINER.relative_to(HERE.parent)} ({lines} lines), median of {args.single_repeat}")
    single = interleaved_medians({"graphlint": graphlint_cmd([str(TRAINER)]),
                                  "torchfix": torchfix_cmd([str(TRAINER)])}, args.single_repeat)
    share = single["graphlint"][0] / single["torchfix"][0]
    verdicts.append(check(share <= 0.5, f"single file: graphlint takes {share:.2f}x TorchFix's wall time "
                                        f"(CPU {single['graphlint'][1] / single['torchfix'][1]:.2f}x); target <= 0.5x"))

    print(f"\n2. cold run over the corpus, median of {args.repeat}")
    cold = interleaved_medians({"graphlint": graphlint_cmd(files), "torchfix": torchfix_cmd(files)}, args.repeat,
                               warm_up=False)  # counting the lines warmed the page cache
    for name, (wall, cpu) in cold.items():
        print(f"  {name:<10} {len(files) / wall:7.1f} files/s  (CPU: {len(files) / cpu:6.1f} files/s)")
    ratio = cold["torchfix"][0] / cold["graphlint"][0]
    verdicts.append(check(ratio >= 1.5, f"cold run: graphlint {ratio:.2f}x TorchFix's files/s "
                                        f"(CPU {cold['torchfix'][1] / cold['graphlint'][1]:.2f}x); target >= 1.5x, aim 2x"))

    print(f"\n3. scaling: graphlint lines/s on a quarter, a half and all of the corpus, median of {args.repeat}")
    rates = {}
    for share_name, subset in (("quarter", files[::4]), ("half", files[::2]), ("all", files)):
        n_lines = lines_of(subset)
        wall, cpu = interleaved_medians({share_name: graphlint_cmd(subset)}, args.repeat, warm_up=False)[share_name] \
            if share_name != "all" else cold["graphlint"]
        rates[share_name] = n_lines / wall
        print(f"  {share_name:<8} {len(subset):5d} files {n_lines:7d} lines  {n_lines / wall:8.0f} lines/s "
              f"(CPU: {n_lines / cpu:8.0f} lines/s)")
    spread = max(rates.values()) / min(rates.values()) - 1
    verdicts.append(check(spread <= 0.2, f"scaling: lines/s of quarter/half/all differ by at most {spread:.0%}; target <= 20 %"))

    print(f"\n4. re-run of the whole corpus with the cache warm, median of {args.repeat}")
    with tempfile.TemporaryDirectory() as cache_root:
        cmd = graphlint_cmd(files, cached=True)
        timed(cmd, cwd=Path(cache_root))  # fills the cache (in cache_root/.graphlint_cache)
        warm = interleaved_medians({"cached": cmd}, args.repeat, cwd=Path(cache_root), warm_up=False)["cached"]
    verdicts.append(check(warm[0] <= 0.3, f"cached re-run: {warm[0]:.2f} s; target <= 0.3 s"))

    print("\nverdicts:")
    for line in verdicts:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
