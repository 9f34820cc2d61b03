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
        errors: list[str] = []
        uses = rejected = rounds = 0
        started = time.monotonic()
        while server.counts["refresh"] < args.cycles and not errors:
            rotation = rotating_processes(home, server, processes=args.processes, cycles=500)
            errors.extend(rotation.errors)
            rejected += rotation.rejected_requests
            uses += args.processes * 500
            rounds += 1
    print(
        f"G2: {args.processes} processes, {rounds} rounds, {uses} token uses: "
        f"{server.counts['refresh']} refreshes (expiry cycles), {server.invalid_grants} invalid_grant, "
        f"{server.reuse_detected} reuse detections, {rejected} rejected requests, "
        f"{len(errors)} forced sign-outs ({time.monotonic() - started:.1f}s)"
    )
    ok = not crash.bad and not errors and server.invalid_grants == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
