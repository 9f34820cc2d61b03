"""Debian's Chromium, headless, with the network shut: every host resolves to nothing and every
connection goes to a closed loopback port. `dump_dom` returns the DOM after the page's script ran;
`screenshot` a PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=5000",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("BROWSER_TESTS") == "required":
        pytest.fail(
            "chromium is not installed; scripts/test installs it (apt-get install chromium)"
        )
    pytest.skip("chromium is not installed (scripts/test installs it as root)")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rupu-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def dump_dom(url: str) -> str:
    proc = _run(["--dump-dom", url])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(url: str, target: Path, *, width: int = 1280, height: int = 1600) -> None:
    proc = _run([f"--window-size={width},{height}", f"--screenshot={target}", url])
    assert proc.returncode == 0 and target.is_file(), proc.stderr[-2000:]


def png_colours(path: Path) -> int:
    """How many distinct colours the PNG holds (1 for a blank page)."""
    from PIL import Image  # lazy: only the screenshot tests decode images

    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20
