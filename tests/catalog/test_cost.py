"""Cost arithmetic for each provider's usage accounting, property-tested.

Each provider reports usage differently (wire-formats §7.9):

| shape             | input field                    | cache                                   | reasoning                         |
|-------------------|--------------------------------|-----------------------------------------|-----------------------------------|
| Anthropic         | `input_tokens` excludes cache  | `cache_read_input_tokens`, `cache_creation_input_tokens` apart | inside `output_tokens` |
| OpenAI Responses  | `input_tokens` includes cached | `input_tokens_details.cached_tokens`    | inside `output_tokens`            |
| chat completions  | `prompt_tokens` includes cached | `prompt_tokens_details.cached_tokens`  | inside `completion_tokens`        |
| Gemini            | `promptTokenCount` includes cached | `cachedContentTokenCount`           | `thoughtsTokenCount` *outside* `candidatesTokenCount` |

Providers normalise to `rupu.messages.Usage` before pricing (tests/catalog/usage_shapes.py). The
expected cost is computed by hand from the raw fields with exact fractions.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.catalog.pricing import add_costs, pricer, usage_cost
from rupu.messages import Usage
from rupu.modeldata.schema import Prices, load_baked
from tests.catalog.usage_shapes import anthropic_usage, chat_usage, gemini_usage, responses_usage

TOKENS = st.integers(min_value=0, max_value=5_000_000)


def baked_price(provider: str, model: str) -> Prices:
    catalog = load_baked(provider)
    assert catalog is not None
    found = next(m for m in catalog.models if m.id == model)
    assert found.prices is not None
    return found.prices


def exact(prices: Prices) -> dict[str, Fraction]:
    return {k: Fraction(str(v)) for k, v in prices.model_dump().items()}


# -- the shapes: raw usage, its normalisation, and the hand-computed cost --------------------------


@st.composite
def anthropic_raw(draw: st.DrawFn) -> dict[str, Any]:
    output = draw(TOKENS)
    return {
        "input_tokens": draw(TOKENS),
        "cache_read_input_tokens": draw(TOKENS),
        "cache_creation_input_tokens": draw(TOKENS),
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": draw(st.integers(0, output))},
    }


def anthropic_cost(raw: dict[str, Any], p: dict[str, Fraction]) -> Fraction:
    cost: Fraction = (
        raw["input_tokens"] * p["input"]
        + raw["cache_read_input_tokens"] * p["cache_read"]
        + raw["cache_creation_input_tokens"] * p["cache_write"]
        + raw["output_tokens"] * p["output"]
    ) / 1_000_000
    return cost


@st.composite
def responses_raw(draw: st.DrawFn) -> dict[str, Any]:
    total_in, total_out = draw(TOKENS), draw(TOKENS)
    return {
        "input_tokens": total_in,
        "input_tokens_details": {"cached_tokens": draw(st.integers(0, total_in))},
        "output_tokens": total_out,
        "output_tokens_details": {"reasoning_tokens": draw(st.integers(0, total_out))},
        "total_tokens": total_in + total_out,
    }


def responses_cost(raw: dict[str, Any], p: dict[str, Fraction]) -> Fraction:
    cached = raw["input_tokens_details"]["cached_tokens"]
    cost: Fraction = (
        (raw["input_tokens"] - cached) * p["input"]
        + cached * p["cache_read"]
        + raw["output_tokens"] * p["output"]
    ) / 1_000_000
    return cost


@st.composite
def chat_raw(draw: st.DrawFn) -> dict[str, Any]:
    prompt, completion = draw(TOKENS), draw(TOKENS)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, prompt))},
        "completion_tokens_details": {"reasoning_tokens": draw(st.integers(0, completion))},
    }


def chat_cost(raw: dict[str, Any], p: dict[str, Fraction]) -> Fraction:
    cached = raw["prompt_tokens_details"]["cached_tokens"]
    cost: Fraction = (
        (raw["prompt_tokens"] - cached) * p["input"]
        + cached * p["cache_read"]
        + raw["completion_tokens"] * p["output"]
    ) / 1_000_000
    return cost


@st.composite
def gemini_raw(draw: st.DrawFn) -> dict[str, Any]:
    prompt, candidates, thoughts = draw(TOKENS), draw(TOKENS), draw(TOKENS)
    return {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": draw(st.integers(0, prompt)),
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": prompt + candidates + thoughts,
    }


def gemini_cost(raw: dict[str, Any], p: dict[str, Fraction]) -> Fraction:
    cached = raw["cachedContentTokenCount"]
    billed_output = raw["candidatesTokenCount"] + raw["thoughtsTokenCount"]
    cost: Fraction = (
        (raw["promptTokenCount"] - cached) * p["input"]
        + cached * p["cache_read"]
        + billed_output * p["output"]
    ) / 1_000_000
    return cost


CHAT_PRICES = Prices(input=0.6, output=2.2, cache_read=0.11, cache_write=0.6)
Shape = tuple[
    Any,
    Callable[[dict[str, Any]], Usage],
    Callable[[dict[str, Any], dict[str, Fraction]], Fraction],
    Prices,
]
SHAPES: dict[str, Shape] = {
    "anthropic": (
        anthropic_raw(),
        anthropic_usage,
        anthropic_cost,
        baked_price("anthropic", "claude-sonnet-4-6"),
    ),
    "openai-responses": (
        responses_raw(),
        responses_usage,
        responses_cost,
        baked_price("openai", "gpt-5"),
    ),
    "chat-completions": (chat_raw(), chat_usage, chat_cost, CHAT_PRICES),
    "gemini": (gemini_raw(), gemini_usage, gemini_cost, baked_price("gemini", "gemini-2.5-pro")),
    "copilot": (chat_raw(), chat_usage, chat_cost, baked_price("copilot", "claude-sonnet-4.6")),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_cost_matches_the_hand_computed_value(shape: str) -> None:
    strategy, normalise, hand, prices = SHAPES[shape]

    @settings(max_examples=100, deadline=None)
    @given(strategy)
    def check(raw: dict[str, Any]) -> None:
        got = usage_cost(normalise(raw), prices)
        want = float(hand(raw, exact(prices)))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert got >= 0

    check()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_cost_is_additive_over_turns(shape: str) -> None:
    strategy, normalise, _, prices = SHAPES[shape]

    @settings(max_examples=40, deadline=None)
    @given(st.lists(strategy, min_size=1, max_size=5))
    def check(raws: list[dict[str, Any]]) -> None:
        usages = [normalise(raw) for raw in raws]
        total = Usage()
        summed: float | None = 0.0
        for usage in usages:
            total = total.add(usage)
            summed = add_costs(summed, usage_cost(usage, prices))
        assert summed == pytest.approx(usage_cost(total, prices), rel=1e-12, abs=1e-12)

    check()


@settings(max_examples=100, deadline=None)
@given(responses_raw(), st.integers(0, 5_000_000))
def test_reasoning_inside_output_is_not_billed_twice(raw: dict[str, Any], reasoning: int) -> None:
    prices = baked_price("openai", "o3")
    other = {
        **raw,
        "output_tokens_details": {"reasoning_tokens": min(reasoning, raw["output_tokens"])},
    }
    assert usage_cost(responses_usage(raw), prices) == usage_cost(responses_usage(other), prices)


@settings(max_examples=100, deadline=None)
@given(gemini_raw())
def test_gemini_thoughts_are_billed_as_output(raw: dict[str, Any]) -> None:
    prices = baked_price("gemini", "gemini-2.5-flash")
    without = {**raw, "thoughtsTokenCount": 0}
    extra = usage_cost(gemini_usage(raw), prices) - usage_cost(gemini_usage(without), prices)
    assert extra == pytest.approx(
        raw["thoughtsTokenCount"] * prices.output / 1e6, rel=1e-9, abs=1e-12
    )


def test_worked_examples() -> None:
    """Spelled out, so the arithmetic is plain to a reader."""
    sonnet = baked_price("anthropic", "claude-sonnet-4-6")
    # 10,000 fresh input, 200,000 cache reads, 5,000 cache writes, 2,000 output:
    # 10000·3 + 200000·0.3 + 5000·3.75 + 2000·15 = 30000 + 60000 + 18750 + 30000 = 138750 µ$
    usage = Usage(10_000, 2_000, 200_000, 5_000, 0, True)
    assert usage_cost(usage, sonnet) == pytest.approx(0.13875)
    gpt5 = baked_price("openai", "gpt-5")
    # input_tokens 120,000 of which 100,000 cached; output 8,000 (5,000 reasoning):
    # 20000·1.25 + 100000·0.125 + 8000·10 = 25000 + 12500 + 80000 = 117500 µ$
    usage = responses_usage(
        {
            "input_tokens": 120_000,
            "input_tokens_details": {"cached_tokens": 100_000},
            "output_tokens": 8_000,
            "output_tokens_details": {"reasoning_tokens": 5_000},
        }
    )
    assert usage_cost(usage, gpt5) == pytest.approx(0.1175)


def test_pricer_is_unknown_without_a_price_or_usage() -> None:
    reported = Usage(1000, 1000, reported=True)
    assert pricer(None)(reported) is None
    assert pricer(CHAT_PRICES)(Usage(1000, 1000)) is None
    assert pricer(CHAT_PRICES)(reported) == pytest.approx((600 + 2200) / 1e6)
    assert add_costs(1.0, None) is None
