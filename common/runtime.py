"""What every process does to its interpreter before serving (docs/performance.md).

- **uvloop** for the event loop where it is installed (it comes with
  ``uvicorn[standard]``): the gateway runs on it through uvicorn, and the gRPC
  services, whose profiles showed the stdlib loop's ``_run_once`` at 13-25% of their
  time, run on it through :func:`run`.
- **A settled heap**: once start-up has imported everything and built its objects,
  :func:`settle_heap` moves them to the permanent generation (``gc.freeze``), so that
  no later collection walks them, and raises the gen-0 threshold, which a request's
  short-lived dicts, closures and gRPC call objects otherwise trip every few requests
  (GC was 10-13% of the gateway and the token service). Reference counting still
  frees almost everything at once; the collector is there for cycles, which the hot
  path does not make in bulk.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

#: Gen-0 collections after this many net allocations instead of CPython's 700; the
#: older generations keep their default ratios to it.
GEN0_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, freeze what survived, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)`` on uvloop when it is installed, else on the stdlib loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        asyncio.run(main)
        return
    uvloop.run(main)
