"""Terminal output for `rupu run`: the answer on stdout as it arrives; everything else (the waiting
line, reasoning, the footer) on stderr, so stdout stays pipeable."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from rupu.messages import StreamEvent

if TYPE_CHECKING:
    from rupu.agents.loop import AgentResult
    from rupu.routing.target import RunTarget

DIM, ITALIC, RESET = "\x1b[2m", "\x1b[3m", "\x1b[0m"


class RunRenderer:
    def __init__(
        self,
        *,
        stream: bool,
        show_thinking: bool,
        target: RunTarget,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.stream = stream
        self.show_thinking = show_thinking
        self.target = target
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.err_tty = self.err.isatty()
        self.credential = ""
        self.service_tier: str | None = None
        self.fast = False  # fast mode: the footer says `fast` instead of `[priority]`
        self.requested_model: str | None = None
        self._first_token = False
        self._in_thinking = False
        self._wrote_text = False
        self._last_char = "\n"
        self._noted = False
        self._started = time.monotonic()

    @asynccontextmanager
    async def waiting(self) -> AsyncIterator[None]:
        """While the request waits for its first token, a terminal shows the elapsed time."""
        if not self.err_tty:
            yield
            return
        import anyio

        async def ticker() -> None:
            while not self._first_token:
                elapsed = time.monotonic() - self._started
                self.err.write(
                    f"\r{DIM}waiting for {self.target.provider} · {self.target.model} {elapsed:4.1f}s{RESET}"
                )
                self.err.flush()
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            try:
                yield
            finally:
                self._clear_status()
                group.cancel_scope.cancel()

    def _clear_status(self) -> None:
        if self.err_tty and not self._first_token:
            self.err.write("\r\x1b[2K")
            self.err.flush()
        self._first_token = True

    def on_event(self, event: StreamEvent) -> None:
        kind = event.kind
        if event.kind == "response_started" and event.note and not self._noted:
            # Said once per run, before the answer: what the user should know about the credential.
            self._noted = True
            self._clear_status()
            self.err.write(self._dim(f"note: {event.note}") + "\n")
        if kind == "text_delta":
            if not self._first_token:
                self._clear_status()
            if self._in_thinking:
                self._end_thinking()
            if self.stream:
                self.out.write(event.text)  # type: ignore[union-attr]
                self.out.flush()
                self._wrote_text = True
                self._last_char = event.text[-1:] or self._last_char  # type: ignore[union-attr]
        elif kind == "thinking_delta":
            if not self._first_token:
                self._clear_status()
            if self.show_thinking:
                if not self._in_thinking:
                    self.err.write(f"{DIM}{ITALIC}thinking: " if self.err_tty else "thinking: ")
                    self._in_thinking = True
                self.err.write(event.text)  # type: ignore[union-attr]
                self.err.flush()
        elif kind == "tool_call_started" and not self._first_token:
            self._clear_status()  # stop the waiting line before a permission prompt can appear
        elif kind == "response_started" and self._last_char != "\n":
            # A later turn (after tool calls) starts on a line of its own.
            self.out.write("\n")
            self._last_char = "\n"
        elif kind == "retry_scheduled":
            self._clear_status()
            self.err.write(
                f"retrying after {event.delay:.1f}s ({event.reason}, attempt {event.attempt})\n"  # type: ignore[union-attr]
            )
        elif event.kind == "failover":
            self._clear_status()
            self.err.write(
                f"failover: {event.from_provider}:{event.from_model} → {event.to_provider}:"
                f"{event.to_model} ({event.reason}; {event.to_credential})\n"
            )

    def tool_note(self, text: str) -> None:
        """One line on stderr per tool call (or denial), so a person can follow what happens."""
        self._clear_status()
        if self._in_thinking:
            self._end_thinking()
        self.err.write(self._dim(f"· {text}") + "\n")
        self.err.flush()

    def _end_thinking(self) -> None:
        self.err.write(f"{RESET}\n" if self.err_tty else "\n")
        self._in_thinking = False

    def finish(self, result: AgentResult) -> None:
        if self._in_thinking:
            self._end_thinking()
        if not self.stream and result.text:
            self.out.write(result.text)
            self._wrote_text = True
        if self._wrote_text and not result.text.endswith("\n"):
            self.out.write("\n")
        self.out.flush()
        self.err.write(self.footer(result) + "\n")
        if result.rate_limits:
            quota = " ".join(f"{k}={v}" for k, v in sorted(result.rate_limits.items()))
            self.err.write(self._dim(f"quota: {quota}") + "\n")
        self.err.flush()

    def footer(self, result: AgentResult) -> str:
        last = result.turns[-1] if result.turns else None
        served = last.served_model if last else None
        routed = last.served_by if last else None
        provider = self.target.provider
        model, credential = self.target.model, self.credential
        # More than one model served (a tier switch, a failover on an earlier turn): the footer
        # names the one that served the last turn, and lists them all in order.
        every = result.served if len(result.served) > 1 else []
        own = every[-1] if every else None
        if own is not None:
            provider, model, credential = own.provider, own.model, own.credential
        if routed is not None:
            provider = f"{routed.provider} (fallback for {self.target.provider})"
            model, credential = routed.model, routed.credential
        elif self.fast and own is None:
            model += " fast"
        elif self.service_tier and own is None:
            model += f" [{self.service_tier}]"
        if last is not None and last.credential:
            credential = last.credential  # as the provider itself reported it (claude-code)
        if self.requested_model and own is None:
            model += f" ({self.requested_model})"
        if served and served != (
            routed.model if routed else own.model if own else self.target.model
        ):
            model += f" (served by {served})"
        usage = result.usage
        tokens = f"{usage.input_tokens + usage.cache_read_tokens} in · {usage.output_tokens} out"
        if not usage.reported:
            tokens = "usage not reported"
        cost = None
        if result.cost_usd is not None:
            from rupu.catalog.pricing import format_cost

            cost = format_cost(result.cost_usd)
        parts = [
            provider,
            model,
            credential,
            "models: " + " → ".join(f"{s.provider}:{s.model}" for s in every) if every else None,
            tokens,
            cost,
            f"{result.duration_ms / 1000:.1f}s",
            result.run_id,
        ]
        return self._dim("── " + " · ".join(p for p in parts if p))

    def _dim(self, text: str) -> str:
        return f"{DIM}{text}{RESET}" if self.err_tty else text

    def json_summary(self, result: AgentResult) -> str:
        last = result.turns[-1] if result.turns else None
        payload: dict[str, Any] = {
            "run_id": result.run_id,
            "status": result.status,
            "provider": self.target.provider,
            "model": self.target.model,
            "served_model": last.served_model if last else None,
            "credential": (
                last.credential
                if last is not None and last.credential and last.served_by is None
                else self.credential
            ),
            "service_tier": self.service_tier,
            "fast": self.fast,
            "served_by": (
                {
                    "provider": last.served_by.provider,
                    "model": last.served_by.model,
                    "credential": last.served_by.credential,
                }
                if last and last.served_by
                else None
            ),
            "failovers": sum(len(t.failovers) for t in result.turns),
            "models_served": [
                {"provider": s.provider, "model": s.model, "credential": s.credential}
                for s in result.served
            ],
            "text": result.text,
            "stop_reason": last.stop_reason if last else None,
            "usage": result.usage.as_dict(),
            "cost_usd": result.cost_usd,
            "duration_ms": result.duration_ms,
            "transcript": str(result.transcript),
            "error": result.error.one_line() if result.error else None,
        }
        return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()
