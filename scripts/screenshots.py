"""Regenerates the pictures in docs/images/ from real runs: `python scripts/screenshots.py`.

Each picture comes from a throw-away RUPU_HOME and project: `rupu init`, the sample workflow on the
mock provider, then its report opened in headless Chromium (network shut, as in the tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
)


def rupu(*args: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "rupu", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"rupu {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def screenshot(url: str, target: Path, size: str) -> None:
    browser = shutil.which("chromium") or sys.exit("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--screenshot={target}",
                url,
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {target.relative_to(ROOT)}")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        project = base / "project"
        project.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RUPU_")},
            "RUPU_HOME": str(base / "home"),
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        }
        rupu("init", cwd=project, env=env)
        events = rupu(
            "workflow",
            "run",
            "sample",
            "--provider",
            "mock",
            "--format",
            "json",
            cwd=project,
            env=env,
        )
        run_id = json.loads(events.splitlines()[-1])["run_id"]
        page = project / "report.html"
        rupu("workflow", "report", run_id, "-o", str(page), cwd=project, env=env)
        screenshot(page.as_uri() + "#unit=review/0", IMAGES / "report.png", "1280,1500")


if __name__ == "__main__":
    main()
