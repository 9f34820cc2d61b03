"""Runs every benchmark script in this directory and prints their JSON lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run_all.py", "sse_server.py", "__init__.py"}:
            continue
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        print(
            line or f'{{"bench": "{script.stem}", "error": {proc.stderr.strip()[-300:]!r}}}',
            flush=True,
        )


if __name__ == "__main__":
    main()
