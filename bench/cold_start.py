"""Cold start, side by side in one run: `rupu --help` against the bare interpreter, `import openai`
and (when installed) `llm --help`. Median of N runs each.

    python bench/cold_start.py [--runs 15]   -> one JSON line (milliseconds)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_ms(argv: list[str], runs: int) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "rupu"
    rupu = [str(script)] if script.exists() else [sys.executable, "-m", "rupu"]
    results: dict[str, object] = {"bench": "cold_start", "runs": args.runs}
    bare_ms = median_ms([sys.executable, "-c", "pass"], args.runs)
    help_ms = median_ms([*rupu, "--help"], args.runs)
    results["python_bare_ms"] = bare_ms
    results["rupu_help_ms"] = help_ms
    results["rupu_version_ms"] = median_ms([*rupu, "--version"], args.runs)
    results["import_openai_ms"] = median_ms([sys.executable, "-c", "import openai"], args.runs)
    llm = shutil.which("llm")
    if llm:
        results["llm_help_ms"] = median_ms([llm, "--help"], args.runs)
    results["rupu_over_bare_ms"] = round(help_ms - bare_ms, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
