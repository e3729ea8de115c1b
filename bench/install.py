"""What the core install costs next to the whole of respq: the wheel is built once and
installed into two fresh virtualenvs, ``respq`` (the core: a producer) and ``respq[all]``
(worker, server and stand-in upstream too — what every install was before the extras).

Prints the size of each virtualenv's site-packages, its number of distributions, and the
time of ``python -c "import respq"`` (best of N runs, interpreter start-up included, with
the same start-up measured alone beside it), and the core's ratios to the whole.

    .venv/bin/python -m bench.install [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True)
    return done.stdout


def _size(site: Path) -> int:
    """Bytes installed, less pip and setuptools (in every virtualenv, whatever it holds)."""
    tooling = ("pip", "setuptools", "_distutils_hack", "pkg_resources")
    return sum(
        p.stat().st_size
        for p in site.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not p.relative_to(site).parts[0].startswith(tooling)
    )


def _best_time(python: Path, code: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(python), "-c", code], check=True, cwd=tempfile.gettempdir())
        best = min(best, time.perf_counter() - start)
    return best


def measure(base: Path, wheel: Path, name: str, requirement: str, runs: int) -> dict[str, float]:
    env = base / name
    _run(sys.executable, "-m", "venv", env)
    _run(env / "bin" / "python", "-m", "pip", "install", "-q", requirement)
    (site,) = (env / "lib").glob("python*/site-packages")
    dists = len(list(site.glob("*.dist-info"))) - 1  # pip itself is in every venv
    python = env / "bin" / "python"
    bare = _best_time(python, "pass", runs)
    return {
        "size_mib": _size(site) / 2**20,
        "dists": dists,
        "import_ms": (_best_time(python, "import respq", runs) - bare) * 1000,
        "start_ms": bare * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="respq-bench-install-") as tmp:
        base = Path(tmp)
        had_build = (ROOT / "build").exists()
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ROOT)
        if not had_build:  # setuptools builds in the source tree: leave it as it was
            shutil.rmtree(ROOT / "build", ignore_errors=True)
        (wheel,) = (base / "dist").glob("respq-*.whl")
        core = measure(base, wheel, "core", str(wheel), args.runs)
        full = measure(base, wheel, "all", f"{wheel}[all]", args.runs)
    print("| install | site-packages | distributions | `import respq` | core / all |")
    print("|---|---|---|---|---|")
    print(
        f"| `respq` (core) | {core['size_mib']:.1f} MiB | {core['dists']:.0f} | "
        f"{core['import_ms']:.0f} ms | size {core['size_mib'] / full['size_mib']:.2f}×, "
        f"import {core['import_ms'] / full['import_ms']:.2f}× |"
    )
    print(
        f"| `respq[all]` (every install before the extras) | {full['size_mib']:.1f} MiB | "
        f"{full['dists']:.0f} | {full['import_ms']:.0f} ms | 1 |"
    )
    print(f"(interpreter start-up alone, subtracted above: {core['start_ms']:.0f} ms)")


if __name__ == "__main__":
    main()
