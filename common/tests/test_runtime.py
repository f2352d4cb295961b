"""common.runtime: the event loop and the heap every process serves on."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from common.runtime import GEN0_THRESHOLD, run, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_freezes_what_start_up_built_and_collects_less_often() -> None:
    _, gen1, gen2 = gc.get_threshold()
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (GEN0_THRESHOLD, gen1, gen2)


def test_run_serves_on_uvloop() -> None:
    seen: list[object] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())

    run(main())
    assert isinstance(seen[0], uvloop.Loop)
