"""Measures the credential reliability goals at full size (the tests run smaller versions):

- G4: SIGKILL a writer of auth.json N times; every later read must parse and hold old or new content.
- G2: P processes share one auth.json and refresh a rotating token against the loopback OAuth server
  (family revocation on reuse) until at least C expiry cycles (refreshes) happened.

Run: python bench/auth_reliability.py [--kills 1000] [--processes 4] [--cycles 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from rupu.auth.filestore import FileStore
from rupu.auth.stored import StoredCredential
from tests.auth.harness import crash_writes, rotating_processes
from tests.servers.oauth import OAuthServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        crash = crash_writes(Path(directory), args.kills)
    print(
        f"G4: {crash.kills} SIGKILLs during auth.json writes: {crash.parsed} later reads parsed, "
        f"{crash.old_or_new} held the old or the new content, {len(crash.bad)} bad "
        f"({crash.seconds:.1f}s)"
    )

    gets = max(1, args.cycles // args.processes * 2)
    with tempfile.TemporaryDirectory() as directory, OAuthServer(expires_in=60.02) as server:
        home = Path(directory)
        seed = server._issue(None)
        FileStore(home / "auth.json").put(
            StoredCredential(
                provider="openai",
                mode="sso",
                secret=SecretStr(seed["access_token"]),
                refresh_token=SecretStr(seed["refresh_token"]),
                expires_at=time.time() - 1,
                updated_at=time.time(),
            )
        )
        rotation = rotating_processes(home, server, processes=args.processes, cycles=gets)
    print(
        f"G2: {rotation.processes} processes x {rotation.cycles_per_process} token uses: "
        f"{rotation.refreshes} refreshes (expiry cycles), {rotation.invalid_grants} invalid_grant, "
        f"{rotation.reuse_detected} reuse detections, {rotation.rejected_requests} rejected requests, "
        f"{len(rotation.errors)} forced sign-outs ({rotation.seconds:.1f}s)"
    )
    ok = not crash.bad and not rotation.errors and rotation.invalid_grants == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
