"""The worker's event loop is chosen by settings.event_loop, for every loop made afterwards (mode
makes the Kafka consumer thread's with new_event_loop, after the worker chose)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from contact_router.settings import Settings
from contact_router.stream.app import use_event_loop


@pytest.fixture
def restore_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


@pytest.mark.parametrize(("name", "is_uvloop"), [("uvloop", True), ("asyncio", False)])
def test_loops_made_after_the_choice_are_of_that_kind(restore_policy: None, name: str, is_uvloop: bool) -> None:
    use_event_loop(name)
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop) is is_uvloop
    finally:
        loop.close()


def test_uvloop_is_the_default_and_the_setting_is_checked() -> None:
    assert Settings().event_loop == "uvloop"
    with pytest.raises(ValueError, match="event_loop"):
        Settings(event_loop="trio")  # type: ignore[arg-type]
