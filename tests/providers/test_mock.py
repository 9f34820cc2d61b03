"""The offline mock provider's scripted delay waits on the provider's clock (`ProviderSetup.clock`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.config import ProviderConfig
from rupu.messages import Message, ModelRequest
from rupu.providers.base import ProviderSetup
from rupu.providers.mock import create
from rupu.testing import FakeClock


@pytest.mark.anyio
async def test_a_scripted_delay_waits_on_the_setup_clock(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- {text: late, delay_ms: 1500}\n", encoding="utf-8")
    clock = FakeClock()
    setup = ProviderSetup("mock", "mock", ProviderConfig(script=str(script)), None, clock=clock)
    provider = create(setup)
    request = ModelRequest("mock-1", "", [Message.user("go")])
    kinds = [event.kind async for event in provider.stream(request)]
    assert clock.sleeps == [1.5]
    assert "text_delta" in kinds
