"""`rupu workflow report` and `rupu run --report`: one self-contained page, opened in real headless
Chromium with the network shut; the DOM holds the steps, the units, their costs, a failed unit's
error and an opened transcript, and a screenshot of it is not blank."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import Workspace, run_rupu
from tests.pictures.browser import dump_dom, png_colours, screenshot
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    usage,
)

KEY = {"RUPU_ACME_API_KEY": "sk-acme-canary"}
WORKFLOW = """
name: priced
steps:
  - id: fan
    agent: worker
    for_each: [alpha, beta, gamma]
    prompt: "write about {{ item }}"
  - id: broken
    agent: worker
    continue_on_error: true
    prompt: "FAIL on {{ steps.fan.results | length }} drafts"
"""


class Elements(HTMLParser):
    """Every element's attributes and text, by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}, []))
        if tag not in ("meta", "link", "br", "input", "img", "path", "rect", "line"):
            self._open.append(len(self.found) - 1)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for index in self._open:
            self.found[index][2].append(data)

    def text(self, tag: str, **attrs: str) -> list[str]:
        return [
            "".join(texts).strip()
            for t, a, texts in self.found
            if t == tag
            and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def _reply(request: RecordedRequest) -> Reply:
    prompt = request.body["messages"][-1]["content"]
    if prompt.startswith("FAIL"):
        return error_reply(
            400, "the model 'acme-1' cannot take this prompt", "invalid_request_error"
        )
    return stream_reply(text_stream(["draft: ", prompt], with_usage=usage(1000, 500)))


@pytest.fixture
def priced_run(workspace: Workspace) -> Iterator[str]:
    with ChatCompletionsServer(api_key="sk-acme-canary") as server:
        server.default_reply = _reply
        workspace.write_config(
            f'[providers.acme]\nbase_url = "{server.base_url}/v1"\ndefault_model = "acme-1"\n\n'
            '[pricing.acme."acme-1"]\ninput = 2.0\noutput = 10.0\n'
        )
        workspace.write_agent("worker", "---\nname: worker\nprovider: acme\n---\nWork.\n")
        (workspace.project / "priced.yaml").write_text(WORKFLOW)
        result = run_rupu("workflow", "run", "priced.yaml", "--format", "json", env=KEY)
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert events[-1]["type"] == "run_finished", result.stderr
        assert events[-1]["status"] == "partial", result.stderr
        yield str(events[-1]["run_id"])
        server.take_violations()


def test_report_in_a_real_browser(workspace: Workspace, priced_run: str, tmp_path: Path) -> None:
    made = run_rupu("workflow", "report", priced_run, "-o", "r.html")
    assert made.code == 0, made.stderr
    page = workspace.project / "r.html"
    html = page.read_text()
    # no address but the SVG namespace's (a name, never fetched)
    assert set(re.findall(r"https?://[^\s\"'\\]*", html)) == {"http://www.w3.org/2000/svg"}
    assert "Content-Security-Policy" in html

    dom = parse(dump_dom(page.as_uri() + "#unit=broken/0"))
    assert dom.text("body", data_ready="true")
    # header
    assert dom.text("div", data_fact="status")[0].endswith("partial")
    assert dom.text("div", data_fact="units") == ["units4"]
    # steps table and the graph coloured by status
    assert dom.text("tr", data_step="fan")[0].startswith("fanfor_eachsucceeded3")
    assert "failed" in dom.text("tr", data_step="broken")[0]
    svg_steps = {
        a["data-step"]: a.get("data-status")
        for t, a, _ in dom.found
        if t == "g" and "data-step" in a
    }
    assert svg_steps == {"fan": "succeeded", "broken": "failed"}
    # units: three priced at 1000 in, 500 out: 1000 * 2 / 1e6 + 500 * 10 / 1e6 = $0.007 each
    rows = {
        a["data-unit"]: "".join(texts)
        for t, a, texts in dom.found
        if t == "tr" and "data-unit" in a
    }
    assert set(rows) == {"fan/0", "fan/1", "fan/2", "broken/0"}
    assert all("acme-1" in rows[f"fan/{i}"] for i in range(3))
    assert "the model 'acme-1' cannot take this prompt" in rows["broken/0"]
    # the opened transcript panel
    panel = dom.text("div", class_="transcript-panel", data_unit="broken/0")
    assert panel and "FAIL on 3 drafts" in panel[0]
    # timeline bars: one per unit
    bars = [a for t, a, _ in dom.found if t == "rect" and a.get("class") == "bar"]
    assert sorted(b["data-unit"] for b in bars) == ["broken/0", "fan/0", "fan/1", "fan/2"]

    shot = tmp_path / "report.png"
    screenshot(page.as_uri(), shot)
    assert png_colours(shot) > 50


def test_costs_in_the_report(workspace: Workspace, priced_run: str) -> None:
    assert run_rupu("workflow", "report", priced_run, "-o", "r.html").code == 0
    dom = parse(dump_dom((workspace.project / "r.html").as_uri()))
    costs = [t for t, a, _ in dom.found if t == "td" and "cost" in a.get("class", "")]
    assert len(costs) == 4
    cells = [
        "".join(texts) for t, a, texts in dom.found if t == "td" and "cost" in a.get("class", "")
    ]
    assert cells.count("$0.0070") == 3


def test_first_run_from_init_to_report(workspace: Workspace) -> None:
    """Acceptance 1: rupu init, a mock run of the sample, its report in the browser."""
    assert run_rupu("init").code == 0
    ran = run_rupu("workflow", "run", "sample", "--provider", "mock", "--format", "json")
    assert ran.code == 0, ran.stderr
    run_id = json.loads(ran.stdout.splitlines()[-1])["run_id"]
    made = run_rupu("workflow", "report", run_id)
    assert made.code == 0, made.stderr
    page = workspace.project / f"{run_id}.html"
    dom = parse(dump_dom(page.as_uri()))
    units = [a["data-unit"] for t, a, _ in dom.found if t == "tr" and "data-unit" in a]
    assert units == ["draft/0", "draft/1", "draft/2", "review/0", "summary/0"]


def test_many_units_are_paged(workspace: Workspace) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    (workspace.project / "many.yaml").write_text(
        "name: many\ninputs:\n  n: {type: list}\nsteps:\n"
        "  - id: fan\n    agent: echo\n    for_each: '{{ inputs.n }}'\n    prompt: 'n {{ item }}'\n"
    )
    items = json.dumps(list(range(1500)))
    ran = run_rupu(
        "workflow", "run", "many.yaml", "--input", f"n={items}", "--format", "json", timeout=300
    )
    assert ran.code == 0, ran.stderr[-2000:]
    run_id = json.loads(ran.stdout.splitlines()[-1])["run_id"]
    assert run_rupu("workflow", "report", run_id, "-o", "many.html").code == 0
    dom = parse(dump_dom((workspace.project / "many.html").as_uri() + "#status=succeeded"))
    rows = [a for t, a, _ in dom.found if t == "tr" and "data-unit" in a]
    assert len(rows) == 100
    pager = dom.text("span", id="pager")[0]
    assert re.match(r"1,500 units · page 1 of 15", pager), pager


def test_report_of_an_unknown_run_is_a_one_line_error() -> None:
    result = run_rupu("workflow", "report", "run_nope")
    assert result.code == 2
    assert result.stderr.count("\n") == 1


def test_single_agent_run_report(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key="sk-acme-canary") as server:
        server.default_reply = _reply
        workspace.write_config(f'[providers.acme]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent(
            "worker", "---\nname: worker\nprovider: acme\nmodel: acme-1\n---\nWork.\n"
        )
        ok = run_rupu("run", "--agent", "worker", "--report", "ok.html", "hello there", env=KEY)
        assert ok.code == 0, ok.stderr
        bad = run_rupu("run", "--agent", "worker", "--report", "bad.html", "FAIL now", env=KEY)
        assert bad.code == 3, bad.stderr  # a provider error
        server.take_violations()
    good = parse(dump_dom((workspace.project / "ok.html").as_uri() + "#unit=run/0"))
    assert good.text("div", data_fact="status")[0].endswith("succeeded")
    assert "draft: hello there" in good.text("div", class_="transcript-panel", data_unit="run/0")[0]
    failed = parse(dump_dom((workspace.project / "bad.html").as_uri()))
    assert failed.text("div", data_fact="status")[0].endswith("failed")
    assert "cannot take this prompt" in failed.text("p", id="run-error")[0]
