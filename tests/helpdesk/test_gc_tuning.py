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


def test_unset_thresholds_keep_the_current_ones_quietly(settings, restore_gc, caplog):
    settings.GC_THRESHOLDS = ""
    assert gc_tuning.thresholds() == gc.get_threshold()
    assert not caplog.records


@pytest.mark.parametrize(
    "raw", ["0,10,10", "1,2", "a,b,c", "20000;20;10", "20000,20,10,5", "5,-1,2"]
)
async def test_a_typo_is_a_warning_and_the_worker_starts(settings, raw, restore_gc, caplog):
    gc.set_threshold(700, 10, 10)
    settings.GC_THRESHOLDS = raw
    settings.GC_FREEZE_AT_STARTUP = False
    with caplog.at_level("WARNING", logger="helpdesk.gc_tuning"):
        await gc_tuning.GcTuning().start()  # the lifespan hook: must not raise
    assert gc.get_threshold() == (700, 10, 10)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "GC_THRESHOLDS" in warnings[0].getMessage() and repr(raw) in warnings[0].getMessage()


async def test_freezing_can_be_switched_off(settings, restore_gc):
    settings.GC_THRESHOLDS = "1000,10,10"
    settings.GC_FREEZE_AT_STARTUP = False
    gc.unfreeze()
    await gc_tuning.GcTuning().start()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (1000, 10, 10)
