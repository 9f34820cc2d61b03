"""Redaction of 1 MB of tool output: rupu's redactor (a trigger scan for key shapes, then an anchored
match; `str.find` per known value) against the naive single regex that tries every shape at every
position, and against the bare `str.replace` of the known values alone. Median of N runs each.

    python bench/redact.py [--runs 7] [--values 30]   -> one JSON line (milliseconds)
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import statistics
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rupu.redact import SHAPES, Redactor

SIZE = 1_000_000


def corpus(values: list[str]) -> dict[str, str]:
    """Source code with a few keys sprinkled in, one repeated letter, and shape-prefix noise."""
    source = (
        Path(__file__).resolve().parent.parent.joinpath("rupu", "agents", "loop.py").read_text()
    )
    text = (source * (SIZE // len(source) + 1))[:SIZE]
    every = SIZE // 20
    sprinkled = "".join(
        text[i : i + every] + values[(i // every) % len(values)] for i in range(0, SIZE, every)
    )
    return {
        "code_with_keys": sprinkled[:SIZE],
        "one_letter": "a" * SIZE,
        "prefix_noise": ("risk sk- eyJ ghp task-" * (SIZE // 22))[:SIZE],
    }


def median_ms(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--values", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(7)
    values = [
        "canary-" + "".join(rng.choices(string.ascii_letters, k=24)) for _ in range(args.values)
    ]
    redactor = Redactor.of(values)
    naive = re.compile("|".join(f"(?:{pattern})" for *_, pattern in SHAPES))

    def replace_all(text: str) -> str:
        for value in values:
            text = text.replace(value, "[REDACTED secret]")
        return text

    results: dict[str, object] = {"bench": "redact", "bytes": SIZE, "known_values": len(values)}
    for name, text in corpus(values).items():
        results[f"{name}_rupu_ms"] = median_ms(functools.partial(redactor, text), args.runs)
        results[f"{name}_naive_regex_ms"] = median_ms(
            functools.partial(naive.sub, "[REDACTED]", text), args.runs
        )
        results[f"{name}_values_only_ms"] = median_ms(
            functools.partial(replace_all, text), args.runs
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
