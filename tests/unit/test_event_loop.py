import gc

import pytest

from loadgen.core.errors import UsageError
from loadgen.telemetry.event_loop import ASYNCIO, AUTO, GC_THRESHOLDS, UVLOOP, chosen_loop, run


@pytest.mark.parametrize(
    ("requested", "installed", "expected"),
    [(AUTO, True, UVLOOP), (AUTO, False, ASYNCIO), (ASYNCIO, True, ASYNCIO), (UVLOOP, True, UVLOOP)],
)
def test_the_event_loop_choice(requested, installed, expected):
    assert chosen_loop(requested, installed) == expected


def test_asking_for_uvloop_without_it_is_a_usage_error():
    with pytest.raises(UsageError, match="pip install uvloop"):
        chosen_loop(UVLOOP, installed=False)


def test_run_returns_the_result_with_the_gc_tuned_for_long_lived_streams():
    async def answer():
        return 42

    thresholds = gc.get_threshold()
    try:
        assert run(answer(), ASYNCIO) == 42
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
