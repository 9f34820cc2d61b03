"""A loopback server's violations fail the test that caused them, at teardown, even when the test
itself never looks at them. Shown by running pytest on a small generated test file with this
directory's conftest loaded as a plugin, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

GENERATED = """
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers.anthropic import AnthropicServer

BODY = {"model": "m", "max_tokens": 16, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
VERSION = {"anthropic-version": "2023-06-01"}


def post(server: AnthropicServer, body: Any, headers: dict[str, str]) -> int:
    url = f"{server.base_url}/v1/messages"
    return httpx.post(url, json=body, headers=headers, timeout=60).status_code


def test_rejected_request_nobody_asserts() -> None:
    with AnthropicServer() as server:
        assert post(server, BODY, {"x-api-key": "test-key"}) == 400


def test_rejected_request_the_test_takes() -> None:
    with AnthropicServer() as server:
        post(server, BODY, {"x-api-key": "test-key"})
        [violation] = server.take_violations()
        assert violation.startswith("anthropic-version must be one of")


def test_valid_request() -> None:
    with AnthropicServer() as server:
        # nothing scripted, so a 500, but nothing rejected either
        assert post(server, BODY, {"x-api-key": "test-key", **VERSION}) == 500


@pytest.fixture
def fixture_server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


def test_rejected_request_to_a_server_from_a_fixture(fixture_server: AnthropicServer) -> None:
    post(fixture_server, BODY, VERSION)
"""


def run_generated(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "generated" / "test_generated.py"
    test_file.parent.mkdir()
    test_file.write_text(GENERATED)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-rA",
            "--rootdir",
            str(test_file.parent),
            str(test_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=test_file.parent,
        timeout=120,
        check=False,
    )


def test_an_unasserted_violation_fails_the_test_at_teardown_and_names_it(tmp_path: Path) -> None:
    proc = run_generated(tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "4 passed, 2 errors" in out
    assert "ERROR at teardown of test_rejected_request_nobody_asserts" in out
    assert "AnthropicServer at http://127.0.0.1:" in out
    assert "rejected: anthropic-version must be one of ['2023-06-01', '2026-10-21']" in out
    assert "ERROR at teardown of test_rejected_request_to_a_server_from_a_fixture" in out
    assert "rejected: send exactly one of x-api-key and Authorization" in out
    assert "ERROR at teardown of test_rejected_request_the_test_takes" not in out
    assert "ERROR at teardown of test_valid_request" not in out
