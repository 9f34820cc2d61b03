"""Reliability harnesses shared by the tests and `bench/auth_reliability.py`.

- `crash_writes`: G4, SIGKILL a writer of auth.json at random moments; every later read must parse
  and hold the old or the new content.
- `rotating_processes`: G2, several processes sharing one auth.json refresh a rotating token
  against the loopback OAuth server (which revokes the family on reuse) for many expiry cycles.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from rupu.auth.files import StoreError
from rupu.auth.filestore import FileStore
from rupu.auth.stored import StoredCredential

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashReport:
    kills: int
    parsed: int
    old_or_new: int
    bad: list[str]
    seconds: float


def _entry(provider: str, version: int) -> StoredCredential:
    return StoredCredential(
        provider=provider,
        mode="api-key",
        secret=SecretStr(f"v{version}-" + "k" * 400),
        updated_at=float(version),
    )


def crash_writes(directory: Path, kills: int, *, seed: int = 4) -> CrashReport:
    """Forks a writer that keeps rewriting 10 entries (about 6 KB) and kills it at random."""
    path = directory / "auth.json"
    store = FileStore(path)
    providers = [f"p{i}" for i in range(10)]
    for provider in providers:
        store.put(_entry(provider, 0))
    rng = random.Random(seed)
    version = 0
    report = CrashReport(kills, 0, 0, [], 0.0)
    started = time.monotonic()
    for _ in range(kills):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer
            os.close(read_end)
            try:
                writer = FileStore(path)
                n = version
                while True:
                    n += 1
                    os.write(write_end, f"{n}\n".encode())
                    writer.put(_entry(providers[n % len(providers)], n))
            finally:
                os._exit(0)
        os.close(write_end)
        time.sleep(rng.uniform(0, 0.012))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read_end, "rb") as pipe:
            attempted = [int(x) for x in pipe.read().split()]
        last = attempted[-1] if attempted else version
        try:
            entries = {c.provider: c for c in FileStore(path).list()}
        except StoreError as exc:
            report.bad.append(f"unparseable after kill: {exc.one_line()}")
            break
        report.parsed += 1
        newest = max(int(c.updated_at) for c in entries.values())
        # Old (last-1 committed) or new (last committed), nothing else, and all ten entries.
        if len(entries) == len(providers) and newest in (last, last - 1, version):
            report.old_or_new += 1
        else:
            report.bad.append(
                f"after kill: newest={newest} attempted={last} entries={len(entries)}"
            )
        version = max(newest, version)
    report.seconds = time.monotonic() - started
    return report


WORKER = r"""
import anyio, json, sys, time
from pathlib import Path
from rupu.auth.filestore import FileStore
from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.auth.oauth.tokens import TokenClient
from rupu.auth.refresh import SsoCredentialSource
from rupu.errors import CredentialError
import httpx

home, token_url, check_url, cycles, client_id = sys.argv[1:6]
cycles = int(cycles)
store = FileStore(Path(home) / "auth.json")
profile = OAuthProfile(provider="openai", flow="pkce", token_url=token_url, client_id=client_id)

async def main():
    stats = {"gets": 0, "errors": [], "rejected": 0}
    async with httpx.AsyncClient() as http:
        for _ in range(cycles):
            stored = store.get("openai", "sso")
            source = SsoCredentialSource(
                stored, store=store, refresher=TokenClient(profile, http=http),
                lock_dir=Path(home) / "locks", where="auth.json")
            try:
                credential = await source.get()
            except CredentialError as exc:
                stats["errors"].append(exc.one_line())
                break
            stats["gets"] += 1
            response = await http.get(check_url, headers={"authorization": "Bearer " + credential.secret.reveal()})
            if response.status_code != 200:
                stats["rejected"] += 1
        stats["token_calls"] = source.token_calls
    print(json.dumps(stats))

anyio.run(main)
"""


@dataclass
class RotationReport:
    processes: int
    cycles_per_process: int
    refreshes: int
    invalid_grants: int
    reuse_detected: int
    rejected_requests: int
    errors: list[str]
    seconds: float


def rotating_processes(
    home: Path, server: object, *, processes: int = 4, cycles: int = 100
) -> RotationReport:
    """`server` is a running `tests.servers.oauth.OAuthServer` with a short `expires_in`."""
    from tests.servers.oauth import OAuthServer

    assert isinstance(server, OAuthServer)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = [home, server.token_url, f"{server.base_url}/api/check", str(cycles), server.client_id]
    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        if worker.returncode != 0:
            raise RuntimeError(f"worker failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return RotationReport(
        processes=processes,
        cycles_per_process=cycles,
        refreshes=server.counts["refresh"],
        invalid_grants=server.invalid_grants,
        reuse_detected=server.reuse_detected,
        rejected_requests=sum(r["rejected"] for r in results),
        errors=[e for r in results for e in r["errors"]],
        seconds=time.monotonic() - started,
    )
