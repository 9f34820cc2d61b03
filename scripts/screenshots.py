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


def live_view_svg(project: Path, env: dict[str, str], target: Path, columns: int = 110) -> None:
    """`rupu workflow run` in a pseudo-terminal; its last frame drawn as a terminal by rich."""
    import fcntl
    import pty
    import re
    import select
    import struct
    import termios

    from rich.console import Console
    from rich.text import Text

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(project)
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        args = [sys.executable, "-m", "rupu", "workflow", "run", "sample", "--provider", "mock"]
        os.execve(sys.executable, args, env)
    raw = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[\d*[AF]|\x1b\[2K", "\n", raw.decode("utf-8", "replace"))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)
    lines = [line for line in text.split("\n") if line.strip()]
    start = max(i for i, line in enumerate(lines) if "STEP" in line and "STATE" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("run "))
    frame = "\n".join(lines[start : end + 1])
    console = Console(record=True, width=columns, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Text(frame))
    svg = console.export_svg(title="rupu workflow run sample")
    # rich names web fonts on a CDN; the docs ask no third party, so the local fonts are used
    svg = re.sub(r"@font-face \{.*?\}\s*", "", svg, flags=re.S)
    target.write_text(svg)
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
        live_env = {**env, "TERM": "xterm-256color"}
        live_env.pop("NO_COLOR")
        live_view_svg(project, live_env, IMAGES / "live-view.svg")


if __name__ == "__main__":
    main()
