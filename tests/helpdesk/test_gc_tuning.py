"""The worker's garbage-collector settings, applied by a lifespan hook at startup."""

import gc

import pytest

from helpdesk import gc_tuning


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


async def test_startup_freezes_and_raises_thresholds(settings, restore_gc):
    settings.GC_THRESHOLDS = "20000,20,10"
    settings.GC_FREEZE_AT_STARTUP = True
    await gc_tuning.GcTuning().start()
    assert gc.get_threshold() == (20000, 20, 10)
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("raw", ["", "0,10,10", "1,2", "a,b,c"])
def test_bad_thresholds_keep_the_current_ones(settings, raw, restore_gc):
    settings.GC_THRESHOLDS = raw
    if raw == "a,b,c":
        with pytest.raises(ValueError):
            gc_tuning.thresholds()
        return
    assert gc_tuning.thresholds() == gc.get_threshold()


async def test_freezing_can_be_switched_off(settings, restore_gc):
    settings.GC_THRESHOLDS = "1000,10,10"
    settings.GC_FREEZE_AT_STARTUP = False
    gc.unfreeze()
    await gc_tuning.GcTuning().start()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (1000, 10, 10)
