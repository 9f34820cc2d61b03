"""The spend guard: worst cases estimated and priced by hand, reservations that concurrent calls
cannot all pass, step budgets that cover nested step paths, and the one-time note for a model with
no known price."""

from __future__ import annotations

import anyio
import pytest

from rupu.agents.budget import (
    DEFAULT_OUTPUT_ALLOWANCE,
    Charge,
    LocalSpendGuard,
    SpendLimit,
    estimate_input_tokens,
    worst_case,
)
from rupu.catalog.pricing import pricer
from rupu.errors import BudgetReached, LimitReached
from rupu.messages import Message, ModelRequest, ToolCallPart, ToolResultPart, ToolSpec, Usage
from rupu.modeldata.schema import Prices

pytestmark = pytest.mark.anyio

# $1000 per million input tokens, $2000 per million output tokens: $0.001 and $0.002 a token.
PRICES = Prices(input=1000, output=2000, cache_read=100, cache_write=1250)


def request(text: str, *, max_tokens: int | None = 100) -> ModelRequest:
    return ModelRequest(
        model="m", system="abcd", messages=[Message.user(text)], max_tokens=max_tokens
    )


def test_the_input_estimate_is_characters_over_four_rounded_up() -> None:
    # 4 (system) + 9 (message) = 13 characters -> 4 tokens
    assert estimate_input_tokens(request("123456789")) == 4
    call = Message("assistant", [ToolCallPart("c1", "read", {"p": "x"})])
    result = Message("user", [ToolResultPart("c1", "read", "12345678")])
    tool = ToolSpec("read", "Reads.", {"type": "object"})
    full = ModelRequest(
        model="m", system="", messages=[Message.user("1234"), call, result], tools=[tool]
    )
    # 4 + (4 + len('{"p":"x"}') = 9) + 8 + (4 + 6 + len('{"type":"object"}') = 17) = 52 -> 13
    assert estimate_input_tokens(full) == 13


def test_the_worst_case_prices_input_at_the_dearer_of_input_and_cache_write() -> None:
    # 4 input tokens at the cache-write price ($0.00125) + 100 output at $0.002
    # = 0.005 + 0.2 = $0.205
    charge = worst_case(request("123456789"), pricer(PRICES), step="s", model="p:m")
    assert charge == Charge(104, 0.205, "s", "p:m")
    # No max_tokens: the default allowance is assumed.
    open_ended = worst_case(request("123456789", max_tokens=None), None, step=None, model="p:m")
    assert open_ended.tokens == 4 + DEFAULT_OUTPUT_ALLOWANCE and open_ended.usd is None


async def test_a_call_that_could_cross_the_limit_is_refused_and_nothing_is_held() -> None:
    guard = LocalSpendGuard.of(SpendLimit(max_usd=0.5))
    first = await guard.reserve(Charge(100, 0.21))
    await guard.settle(first, Charge(60, 0.2))
    second = await guard.reserve(Charge(100, 0.21))  # 0.2 spent + 0.21 held = 0.41
    with pytest.raises(BudgetReached) as caught:
        await guard.reserve(Charge(100, 0.21, step="c"))  # 0.41 + 0.21 = 0.62 > 0.5
    error = caught.value
    assert isinstance(error, LimitReached) and error.exit_code == 5
    assert (error.limit, error.step, error.spent_usd) == ("max_usd", "c", 0.2)
    assert error.message == (
        "budget reached: the run's budget of $0.5000 could be exceeded: $0.2000 spent "
        "(+$0.2100 held by calls in flight), and the next call of step 'c' may cost up to "
        "$0.2100; it was not sent"
    )
    assert guard.tripped is error
    await guard.settle(second, Charge(0, 0.0))  # never answered: costs nothing
    assert guard.spent() == (0.2, 60)


async def test_concurrent_calls_cannot_all_pass_the_same_check() -> None:
    guard = LocalSpendGuard.of(SpendLimit(max_tokens=1000))
    sent: list[int] = []
    refused: list[int] = []

    async def call(index: int) -> None:
        try:
            hold = await guard.reserve(Charge(300, None))
        except BudgetReached:
            refused.append(index)
            return
        sent.append(index)
        await anyio.sleep(0.01)
        await guard.settle(hold, Charge(300, None))

    async with anyio.create_task_group() as group:
        for index in range(10):
            group.start_soon(call, index)
    assert len(sent) == 3 and len(refused) == 7
    assert guard.spent() == (0.0, 900)


async def test_a_step_budget_covers_the_steps_inside_it_and_not_its_siblings() -> None:
    guard = LocalSpendGuard.of(None, {"fix": SpendLimit(max_tokens=150)})
    hold = await guard.reserve(Charge(100, None, step="fix.2.review"))
    await guard.settle(hold, Charge(100, None, step="fix.2.review"))
    await guard.reserve(Charge(100, None, step="fixture"))  # another step: not limited
    await guard.reserve(Charge(100, None, step=None))
    with pytest.raises(BudgetReached) as caught:
        await guard.reserve(Charge(100, None, step="fix"))
    assert caught.value.budget == "step 'fix' budget"
    assert "step 'fix' budget of 150 tokens could be exceeded: 100 spent" in caught.value.message


async def test_a_wildcard_scope_covers_a_step_in_every_loop_iteration() -> None:
    guard = LocalSpendGuard.of(None, {"fix.*.review": SpendLimit(max_tokens=150)})
    hold = await guard.reserve(Charge(100, None, step="fix.1.review"))
    await guard.settle(hold, Charge(100, None, step="fix.1.review"))
    await guard.reserve(Charge(100, None, step="fix.1.draft"))  # a sibling: not limited
    await guard.reserve(Charge(100, None, step="fix"))
    with pytest.raises(BudgetReached):
        await guard.reserve(Charge(100, None, step="fix.2.review"))


async def test_a_call_that_cost_more_than_its_estimate_stops_the_next_one() -> None:
    guard = LocalSpendGuard.of(SpendLimit(max_usd=0.3))
    hold = await guard.reserve(Charge(10, 0.25))
    await guard.settle(hold, Charge(40, 0.35))  # never raises: the call was already made
    assert guard.tripped is not None and "was exceeded: $0.3500 spent" in guard.tripped.message
    with pytest.raises(BudgetReached):
        await guard.reserve(Charge(1, 0.0001))


async def test_an_unpriced_model_counts_tokens_and_is_noted_once() -> None:
    notes: list[str] = []
    guard = LocalSpendGuard.of(SpendLimit(max_usd=0.01, max_tokens=500), notify=notes.append)
    for _ in range(2):
        hold = await guard.reserve(Charge(200, None, model="groq:llama"))
        await guard.settle(hold, Charge(200, None, model="groq:llama"))
    with pytest.raises(BudgetReached) as caught:
        await guard.reserve(Charge(200, None, model="groq:llama"))
    assert caught.value.limit == "max_tokens"
    assert notes == [
        "the run's budget in USD cannot be enforced for groq:llama: its price is unknown, so "
        "only its tokens are counted (add a [pricing] entry to config.toml)"
    ]


async def test_a_resumed_run_counts_what_it_spent_before() -> None:
    guard = LocalSpendGuard.of(SpendLimit(max_usd=1.0), {"b": SpendLimit(max_usd=0.3)})
    guard.seed("a", 0.5, 100)
    guard.seed("b", 0.2, 40)
    assert guard.spent() == (0.7, 140)
    with pytest.raises(BudgetReached) as caught:
        await guard.reserve(Charge(10, 0.15, step="b"))
    assert caught.value.budget == "step 'b' budget"


def test_a_limit_overrides_another_field_by_field() -> None:
    flags = SpendLimit(max_usd=2.0)
    assert flags.over(SpendLimit(1.0, 500)) == SpendLimit(2.0, 500)
    assert SpendLimit().over(None).empty
    assert pricer(PRICES)(Usage(input_tokens=1, reported=True)) == 0.001
