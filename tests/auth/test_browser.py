"""`BROWSER` read as Python's webbrowser documents it: a `:`-separated list of command lines, `%s` for
the URL (`%%` for a percent sign), the URL appended when there is no `%s`."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.auth.oauth.browser import browser_commands, open_url

URL = "http://127.0.0.1:5555/authorize?state=a%20b&x=1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("firefox", [["firefox", URL]]),
        ("firefox --new-window", [["firefox", "--new-window", URL]]),
        ("chromium %s --incognito", [["chromium", URL, "--incognito"]]),
        ("open -a 'Google Chrome' %s", [["open", "-a", "Google Chrome", URL]]),
        ("echo 100%% --url=%s", [["echo", "100%", f"--url={URL}"]]),
        (
            f"w3m{os.pathsep}firefox --new-window %s",
            [["w3m", URL], ["firefox", "--new-window", URL]],
        ),
        (f"{os.pathsep}  {os.pathsep}lynx", [["lynx", URL]]),
    ],
)
def test_browser_commands(value: str, expected: list[list[str]]) -> None:
    assert browser_commands(value, URL) == expected


@given(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), min_size=1, max_size=4))
def test_the_url_is_passed_once_and_whole(words: list[str]) -> None:
    (argv,) = browser_commands(" ".join(words), URL)
    assert argv == [*words, URL]


def test_a_command_that_cannot_start_is_reported_at_once() -> None:
    said: list[str] = []
    env = {"BROWSER": f"/nonexistent/browser --new-window{os.pathsep}/nonexistent/other %s"}
    assert open_url(URL, env=env, on_failure=said.append) is False
    (reason,) = said
    assert "`/nonexistent/browser`" in reason and "`/nonexistent/other`" in reason
    assert URL not in reason


def test_no_display_and_no_browser_is_reported() -> None:
    said: list[str] = []
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        pytest.skip("this machine has a display")
    assert open_url(URL, env={}, on_failure=said.append) is False
    assert said and "no display" in said[0]
