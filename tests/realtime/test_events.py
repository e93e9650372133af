"""The publisher: schemas enforced, events leave only after commit, batched in order."""

from unittest import mock

import pytest
from django.db import transaction

from realtime import events


def state(n: int) -> dict:
    return {"type": "contact.state", "contact": f"c{n}", "state": "waiting"}


@pytest.fixture
def delivered():
    batches: list[list] = []
    with mock.patch.object(events, "_deliver", side_effect=lambda batch: batches.append(batch)):
        yield batches


def test_unknown_or_incomplete_events_are_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        events.check_event({"type": "nope"})
    with pytest.raises(ValueError, match="lacks"):
        events.check_event({"type": "queue.position", "contact": "x"})


@pytest.mark.django_db(transaction=True)
def test_events_leave_after_commit_in_one_batch_and_in_order(delivered):
    with transaction.atomic():
        for n in range(5):
            events.publish_on_commit("g", state(n))
        assert delivered == []
    assert len(delivered) == 1
    assert [e["contact"] for _, e in delivered[0]] == ["c0", "c1", "c2", "c3", "c4"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_events_never_leave(delivered):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish_on_commit("g", state(1))
        raise RuntimeError
    assert delivered == []
    with transaction.atomic():
        events.publish_on_commit("g", state(2))
    assert [[e["contact"] for _, e in batch] for batch in delivered] == [["c2"]]


def publish_around_a_rolled_back_savepoint() -> None:
    """c1 and c3 commit; c2 is published in a savepoint that rolls back."""
    with transaction.atomic():
        events.publish_on_commit("g", state(1))
        with pytest.raises(RuntimeError), transaction.atomic():
            events.publish_on_commit("g", state(2))
            raise RuntimeError
        events.publish_on_commit("g", state(3))


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_drops_only_its_own_events(delivered):
    publish_around_a_rolled_back_savepoint()
    sent = [e["contact"] for batch in delivered for _, e in batch]
    assert sent == ["c1", "c3"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_events_leave_at_once(delivered):
    events.publish_on_commit("g", state(7))
    assert [[e["contact"] for _, e in batch] for batch in delivered] == [["c7"]]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_events_reach_a_subscriber_through_the_real_layer():
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from realtime.layers import PipelinedPubSubChannelLayer

    def publish():
        with transaction.atomic():
            events.publish_on_commit("contact.test", state(9))

    layer = get_channel_layer()
    # The layer production runs: Redis pub/sub, not the one-process in-memory layer.
    assert type(layer) is PipelinedPubSubChannelLayer, type(layer)
    channel = await layer.new_channel()
    await layer.group_add("contact.test", channel)
    try:
        await sync_to_async(publish, thread_sensitive=False)()
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        assert message == {"type": "helpdesk.event", "event": state(9)}
    finally:
        await layer.group_discard("contact.test", channel)


@pytest.mark.django_db(transaction=True)
def test_collecting_keeps_committed_events_for_the_caller():
    with events.collecting() as collected:
        publish_around_a_rolled_back_savepoint()
        events.publish_on_commit("g", state(4))  # autocommit: at once, into the list
    assert [e["contact"] for _, e in collected] == ["c1", "c3", "c4"]
    # outside the block events go straight to the layer again
    with mock.patch.object(events, "async_to_sync") as hop:
        events.publish_on_commit("g", state(5))
    hop.assert_called_once()


async def _subscribe(group: str):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


@pytest.mark.django_db(transaction=True)
async def test_db_helper_publishes_from_the_loop_in_order():
    import asyncio

    from realtime.consumers.base import db

    def store():
        with transaction.atomic():
            events.publish_on_commit("contact.collect", state(1))
            events.publish_on_commit("contact.collect", state(2))
        return "stored"

    layer, channel = await _subscribe("contact.collect")
    with mock.patch.object(events, "async_to_sync") as hop:
        assert await db(store) == "stored"
    hop.assert_not_called()  # no second hop from the thread back to the loop
    got = [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(2)]
    assert [m["event"]["contact"] for m in got] == ["c1", "c2"]
    await layer.group_discard("contact.collect", channel)


@pytest.mark.django_db(transaction=True)
async def test_db_helper_sends_committed_events_even_if_the_caller_fails_or_is_cancelled():
    import asyncio
    import threading

    from realtime.consumers.base import db

    def commit_then_fail():
        events.publish_on_commit("contact.fail", state(1))
        raise ValueError("after the commit")

    layer, channel = await _subscribe("contact.fail")
    with pytest.raises(ValueError, match="after the commit"):
        await db(commit_then_fail)
    got = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert got["event"]["contact"] == "c1"

    # The caller (a socket's handler) is cancelled while the thread still runs.
    release = threading.Event()

    def slow_commit():
        release.wait(5)
        events.publish_on_commit("contact.fail", state(2))

    task = asyncio.ensure_future(db(slow_commit))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    got = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert got["event"]["contact"] == "c2"
    await layer.group_discard("contact.fail", channel)
