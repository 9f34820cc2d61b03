"""A loopback web site for `web_fetch`: pages by path, each a scripted `Reply`; only GET with rupu's
user agent is accepted."""

from __future__ import annotations

from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed


class PageServer(LoopbackServer):
    def __init__(self, pages: dict[str, Reply]) -> None:
        super().__init__()
        self.pages = pages
        self.default_reply = self._page

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        if request.method != "GET":
            raise ValidationFailed(f"{request.method} {request.path}: only GET is expected")
        if not request.headers.get("user-agent", "").startswith("rupu/"):
            raise ValidationFailed("no rupu user agent")
        if request.raw:
            raise ValidationFailed("a GET with a body")

    def _page(self, request: RecordedRequest) -> Reply:
        return self.pages.get(request.path) or Reply(status=404, body=b"not found")


def html(text: str) -> Reply:
    return Reply(body=text.encode(), content_type="text/html")


def redirect(to: str) -> Reply:
    return Reply(status=302, body=b"", headers={"location": to})
