"""How fast `pie` starts: `pie --help` (and `pie --version`) against `python -c pass` on the same
interpreter in the same run. The target is under one second for `pie --help`; the ratio to a
bare interpreter start shows what PIE's own imports cost.

Ends with the JSON line convention:
{"bench": ..., "value": ..., "unit": "s", "ratio": ..., "target": 1.0, "ok": ...}
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7
TARGET_S = 1.0


def pie_command() -> list[str]:
    """The `pie` console script beside this interpreter, else the same entry point via -c."""
    script = Path(sys.executable).with_name("pie")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pie.entrypoints.cli.main import app; app()"]


def median_seconds(command: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    subprocess.run([*pie_command(), "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
    bare = median_seconds([sys.executable, "-c", "pass"], env)
    help_s = median_seconds([*pie_command(), "--help"], env)
    version_s = median_seconds([*pie_command(), "--version"], env)
    print(
        f"median of {RUNS}: python -c pass {bare * 1000:.0f} ms; pie --help {help_s * 1000:.0f} ms "
        f"({help_s / bare:.1f}x); pie --version {version_s * 1000:.0f} ms ({version_s / bare:.1f}x)"
    )
    line = {
        "bench": "cli_startup_help",
        "value": round(help_s, 3),
        "unit": "s",
        "ratio": round(help_s / bare, 1),
        "target": TARGET_S,
        "ok": help_s < TARGET_S,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
