"""`set_model_tier` records the tier asked for; the loop makes the move."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from rupu.tools.base import ToolContext
from rupu.tools.failure import ToolFailure
from rupu.tools.model_tier import TierChoice, model_tier_tool


def call(choice: TierChoice, args: dict[str, Any]) -> str:
    tool = model_tier_tool(choice)
    ctx: Any = ToolContext.__new__(ToolContext)
    return anyio.run(tool.run, args, ctx)


def test_the_tool_offers_the_agents_tiers_with_their_models() -> None:
    choice = TierChoice(
        "fast", {"fast": "groq:small", "frontier": "anthropic:big"}, {"mid": "no key"}
    )
    tool = model_tier_tool(choice)
    assert tool.parameters["properties"]["tier"]["enum"] == ["fast", "frontier", "mid"]
    assert "- frontier: anthropic:big" in tool.description
    assert "- mid: unavailable (no key)" in tool.description
    assert "You are on tier fast." in tool.description
    assert tool.kind == "read"


def test_a_move_is_recorded_not_made() -> None:
    choice = TierChoice("fast", {"fast": "groq:small", "frontier": "anthropic:big"})
    text = call(choice, {"tier": "frontier", "reason": "hard step"})
    assert text == "from your next turn, the rest of this run uses tier frontier (anthropic:big)"
    assert (choice.requested, choice.reason, choice.current) == ("frontier", "hard step", "fast")
    assert call(choice, {"tier": "frontier"}).startswith("already on tier frontier")


def test_an_unavailable_tier_is_an_error_the_model_reads() -> None:
    choice = TierChoice(None, {"fast": "groq:small"}, {"frontier": "no model of tier 'frontier'"})
    with pytest.raises(ToolFailure, match="tier frontier cannot be used in this run"):
        call(choice, {"tier": "frontier"})
    assert choice.requested is None
