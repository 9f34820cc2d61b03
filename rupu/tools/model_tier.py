"""`set_model_tier`: the model moves the rest of its run to another tier the agent allows
(`tiers: [fast, balanced, frontier]` in its frontmatter; without that key the tool does not exist).

The tool only records the request; the agent loop makes the move after the turn's tool calls, so the
next turn is the first on the new tier (`rupu.agents.tier_switch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rupu.tools.base import BuiltinTool, ToolContext, schema
from rupu.tools.failure import ToolFailure

SET_MODEL_TIER = "set_model_tier"


@dataclass(slots=True)
class TierChoice:
    """What the tool may choose from and what it chose. `models` is the `provider:model` each
    available tier starts on; `unavailable` says why a tier cannot be used (no credential)."""

    current: str | None
    models: Mapping[str, str]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    requested: str | None = None
    reason: str = ""

    @property
    def allowed(self) -> list[str]:
        return [*self.models, *self.unavailable]


def model_tier_tool(choice: TierChoice) -> BuiltinTool:
    lines = [f"- {tier}: {model}" for tier, model in choice.models.items()]
    lines += [f"- {tier}: unavailable ({why})" for tier, why in choice.unavailable.items()]
    now = f" You are on tier {choice.current}." if choice.current else ""
    description = (
        "Move the rest of this run to another model tier, from your next turn on: a faster, "
        "cheaper tier for routine steps, a stronger one for hard ones. The conversation so far "
        f"goes with you.{now} Tiers you may choose:\n" + "\n".join(lines)
    )

    async def run(args: dict[str, Any], ctx: ToolContext) -> str:
        tier = str(args["tier"])
        if tier in choice.unavailable:
            raise ToolFailure(
                f"tier {tier} cannot be used in this run: {choice.unavailable[tier]}",
                code="unavailable",
            )
        target = choice.models[tier]
        if tier == (choice.requested or choice.current):
            return f"already on tier {tier} ({target}); nothing changes"
        choice.requested = tier
        choice.reason = str(args.get("reason") or "")
        return f"from your next turn, the rest of this run uses tier {tier} ({target})"

    return BuiltinTool(
        name=SET_MODEL_TIER,
        description=description,
        parameters=schema(
            {
                "tier": {"type": "string", "enum": choice.allowed},
                "reason": {"type": "string", "description": "Why, in a few words."},
            },
            required=["tier"],
        ),
        kind="read",
        handler=run,
        summary_key="tier",
    )
