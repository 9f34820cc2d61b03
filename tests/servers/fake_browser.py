"""A stand-in browser for sign-in tests, used as `BROWSER="python fake_browser.py %s"` (options
such as `--new-window` may come before or after the URL).

It requests the authorize URL, follows the authorization server's redirect to rupu's loopback
callback, and appends what it saw (the URL and the landing page's status) as JSON lines to the file
named by `FAKE_BROWSER_LOG`. Standard library only, so it starts fast.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from urllib.parse import urlsplit


def get(url: str) -> tuple[int, str | None, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    connection.close()
    return response.status, response.getheader("location"), body


def main() -> int:
    # The URL wherever the command line puts it (`BROWSER` may add options before or after `%s`).
    url = next(arg for arg in sys.argv[1:] if arg.startswith("http"))
    log = os.environ.get("FAKE_BROWSER_LOG")
    status, location, _ = get(url)
    record: dict[str, object] = {"authorize": url, "authorize_status": status}
    if location:
        if location.startswith("http://localhost:"):
            location = "http://127.0.0.1:" + location.removeprefix("http://localhost:")
        callback_status, _, page = get(location)
        record.update(callback=location, callback_status=callback_status, page=page)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
