"""Two rupu checkouts side by side in one run: each benchmark script runs alternately from the base
checkout and from this one (base, head, base, head, ...), and every numeric figure is reported as the
median of its rounds with the ratio head/base.

    python bench/compare.py --base ../rupu-old [--rounds 3] [--only cold_start,decode_chat]

Each script runs with its own checkout's code (`PYTHONPATH` and working directory), under this
interpreter, so the only difference between the two columns is rupu itself. Scripts present in only
one checkout are skipped. A ratio is better or worse depending on the figure: for times (`_ms`, `_s`)
lower is better, for rates (`per_s`, `deltas`) higher is better.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "sse_server.py", "__init__.py", "compare.py", "auth_reliability.py"}


def run_script(checkout: Path, name: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(
        [sys.executable, str(checkout / "bench" / name)],
        capture_output=True,
        text=True,
        cwd=checkout,
        env=env,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr.strip()[-300:]}
    figures: dict[str, object] = json.loads(lines[-1])
    return figures


def numeric(figures: dict[str, object]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in figures.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="the older checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated script names (without .py)")
    args = parser.parse_args()
    head, base = HERE.parent, args.base.resolve()
    only = {f"{name}.py" for name in args.only.split(",") if name}
    names = sorted(
        p.name
        for p in (head / "bench").glob("*.py")
        if p.name not in SKIP and (base / "bench" / p.name).exists()
    )
    for name in names:
        if only and name not in only:
            continue
        samples: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        errors: list[str] = []
        for _ in range(args.rounds):
            for side, checkout in (("base", base), ("head", head)):
                figures = run_script(checkout, name)
                if "error" in figures:
                    errors.append(f"{side}: {figures['error']}")
                else:
                    samples[side].append(numeric(figures))
        report: dict[str, object] = {"bench": name.removesuffix(".py"), "rounds": args.rounds}
        if errors:
            report["errors"] = errors
        keys = sorted(set().union(*samples["base"], *samples["head"])) if samples["base"] else []
        for key in keys:
            base_values = [s[key] for s in samples["base"] if key in s]
            head_values = [s[key] for s in samples["head"] if key in s]
            if not base_values or not head_values or key == "runs":
                continue
            b, h = statistics.median(base_values), statistics.median(head_values)
            report[key] = {"base": b, "head": h, "ratio": round(h / b, 3) if b else None}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
