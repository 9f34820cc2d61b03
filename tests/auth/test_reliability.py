"""G4 (crash-safe writes) and G2 (cross-process rotation) with measured figures."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from rupu.auth.filestore import FileStore
from rupu.auth.stored import StoredCredential
from tests.auth.harness import crash_writes, rotating_processes
from tests.servers.oauth import OAuthServer


def test_sigkill_during_writes_never_leaves_an_unparseable_file(tmp_path: Path) -> None:
    report = crash_writes(tmp_path, kills=150)
    print(
        f"G4: {report.kills} kills, {report.parsed} parsed, {report.old_or_new} old-or-new, {report.seconds:.1f}s"
    )
    assert report.bad == []
    assert report.parsed == report.kills == report.old_or_new


def test_four_processes_rotate_without_invalid_grant(tmp_path: Path) -> None:
    # 60.02 s to live: due again 20 ms after each refresh, so processes both refresh and find
    # tokens another process just rotated.
    with OAuthServer(expires_in=60.02) as server:
        seed = server._issue(None)
        FileStore(tmp_path / "auth.json").put(
            StoredCredential(
                provider="openai",
                mode="sso",
                secret=SecretStr(seed["access_token"]),
                refresh_token=SecretStr(seed["refresh_token"]),
                expires_at=time.time() - 1,
                updated_at=time.time(),
            )
        )
        report = rotating_processes(tmp_path, server, processes=4, cycles=40)
    print(
        f"G2: {report.processes} processes x {report.cycles_per_process} gets, "
        f"{report.refreshes} refreshes (expiry cycles), {report.invalid_grants} invalid_grant, "
        f"{report.rejected_requests} rejected requests, {report.seconds:.1f}s"
    )
    assert report.errors == []
    assert report.invalid_grants == 0 and report.reuse_detected == 0
    assert report.rejected_requests == 0
    assert (
        report.refreshes >= 4
    )  # expiry cycles really happened (how many depends on machine speed)
