"""A real Secret Service (gnome-keyring on a private D-Bus session) for tests marked `keychain`.

When the test process already runs inside a D-Bus session with an unlocked keyring (`scripts/test`
uses `dbus-run-session`), that one is used. Otherwise a private `dbus-daemon` and
`gnome-keyring-daemon` are started once per test process (keyrings in a temp dir) and stopped at
exit. When neither works, keychain tests fail under CI (`CI=true`), so CI really tests the keychain.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

_started: list[subprocess.Popen[bytes]] = []
_state: dict[str, str | None] = {}


def secret_service_reachable(timeout: float = 5.0) -> str | None:
    """None when a Secret Service answers a round trip, else the reason it does not."""
    box: dict[str, object] = {}

    def probe() -> None:
        try:
            from keyring.backends.SecretService import Keyring

            backend = Keyring()
            backend.set_password("rupu-test-probe", "probe", "ok")
            box["ok"] = backend.get_password("rupu-test-probe", "probe") == "ok"
            backend.delete_password("rupu-test-probe", "probe")
        except Exception as exc:
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return "the Secret Service did not answer"
    if box.get("ok"):
        return None
    return str(box.get("error", "no answer"))


def ensure_secret_service() -> str | None:
    """Makes a Secret Service available to this process and its children (via os.environ);
    None on success, else why not."""
    if "result" in _state:
        return _state["result"]
    problem = secret_service_reachable() if os.environ.get("DBUS_SESSION_BUS_ADDRESS") else "no bus"
    if problem is not None:
        problem = _start_private_session() or _wait_until_reachable()
    _state["result"] = problem
    return problem


def _wait_until_reachable(seconds: float = 10.0) -> str | None:
    deadline = time.monotonic() + seconds
    while True:
        problem = secret_service_reachable()
        if problem is None or time.monotonic() > deadline:
            return problem
        time.sleep(0.1)


def _start_private_session() -> str | None:
    dbus = shutil.which("dbus-daemon")
    keyring_daemon = shutil.which("gnome-keyring-daemon")
    if not dbus or not keyring_daemon:
        return "dbus-daemon or gnome-keyring-daemon is not installed (apt-get install dbus gnome-keyring)"
    root = Path(tempfile.mkdtemp(prefix="rupu-secret-service-"))
    (root / "data").mkdir()
    (root / "run").mkdir(mode=0o700)
    bus = subprocess.Popen(
        [dbus, "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    _started.append(bus)
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    if not address:
        return "dbus-daemon did not start"
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": address,
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_RUNTIME_DIR": str(root / "run"),
    }
    daemon = subprocess.Popen(
        [keyring_daemon, "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _started.append(daemon)
    assert daemon.stdin is not None
    daemon.stdin.write(b"rupu-test")
    daemon.stdin.close()
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    return None


@atexit.register
def _stop() -> None:
    for process in reversed(_started):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
