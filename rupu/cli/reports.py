"""Writing a run report to a file and, when asked, opening it."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rupu.pictures.run_data import ReportData


def write_report(data: ReportData, target: Path, open_it: bool) -> None:
    from rupu.atomicfile import replace_file
    from rupu.errors import UsageError
    from rupu.pictures.report_html import render_report

    page = render_report(data).encode()
    try:
        replace_file(target, page)
        target.chmod(0o600)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {target}: {exc.strerror}",
            hint="pass a writable path with -o",
        ) from None
    click.echo(f"wrote {target} ({len(page) / 1024:,.0f} KiB)", err=True)
    if open_it:
        import webbrowser

        webbrowser.open(target.resolve().as_uri())
