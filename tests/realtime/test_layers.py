"""The pipelined pub/sub layer against real Redis: order, errors, cancellation."""

import asyncio
from unittest import mock

import pytest
from django.conf import settings

from realtime.layers import PipelinedPubSubChannelLayer

pytestmark = pytest.mark.redis


@pytest.fixture
async def layer():
    layer = PipelinedPubSubChannelLayer(
        hosts=[settings.REDIS_URL],
        prefix=f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}-layers",
    )
    yield layer
    await layer.flush()


async def test_concurrent_group_sends_arrive_once_and_in_call_order(layer):
    channel = await layer.new_channel()
    await layer.group_add("g", channel)

    # 300 sends from 30 tasks at once: most go out in shared pipelines.
    async def sender(task: int) -> None:
        for n in range(10):
            await layer.group_send("g", {"type": "t", "task": task, "n": n})

    await asyncio.gather(*(sender(t) for t in range(30)))
    got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(300)]
    for task in range(30):
        assert [m["n"] for m in got if m["task"] == task] == list(range(10))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.2)
    pipelines = len({id(p) for p in layer._publishers.values()})
    assert pipelines == 1  # one queue for this loop and shard


async def test_a_failed_publish_reaches_every_caller_of_the_batch(layer):
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "warm"})  # the publisher and its client exist
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "warm"
    shard = next(iter(layer._publishers.values())).shard
    with mock.patch.object(
        type(shard._redis), "pipeline", side_effect=ConnectionError("redis is gone")
    ):
        results = await asyncio.gather(
            *(layer.group_send("g", {"type": "t", "n": n}) for n in range(3)),
            return_exceptions=True,
        )
    assert all(isinstance(r, ConnectionError) for r in results)
    await layer.group_send("g", {"type": "after"})  # the next batch goes out again
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"


async def test_a_cancelled_caller_does_not_take_its_message_back(layer):
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    sends = [asyncio.ensure_future(layer.group_send("g", {"type": "t", "n": n})) for n in range(3)]
    await asyncio.sleep(0)  # all three are queued and waiting for Redis
    sends[1].cancel()
    await asyncio.gather(*sends, return_exceptions=True)
    got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(3)]
    assert [m["n"] for m in got] == [0, 1, 2]


async def test_many_sends_are_queued_at_once_and_keep_their_order(layer):
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_add("h", channel)
    batch = [("g" if n % 2 else "h", {"type": "t", "n": n}) for n in range(200)]
    await layer.group_send_many(batch)
    got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(200)]
    assert [m["n"] for m in got] == list(range(200))
    await layer.group_send_many([])


async def test_a_routing_rounds_events_go_out_as_one_batch(layer):
    from realtime import events

    channel = await layer.new_channel()
    await layer.group_add("contact.x", channel)
    batch = [
        ("contact.x", {"type": "contact.state", "contact": str(n), "state": "waiting"})
        for n in range(50)
    ]
    with (
        mock.patch.object(events, "get_channel_layer", return_value=layer),
        mock.patch.object(layer, "group_send_many", wraps=layer.group_send_many) as many,
    ):
        await events.send_collected(batch)
    many.assert_called_once()
    got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(50)]
    assert [m["event"]["contact"] for m in got] == [str(n) for n in range(50)]


async def test_groups_added_together_take_one_subscribe_and_all_deliver(layer):
    """A console joins its groups as it opens with one SUBSCRIBE, not one each;
    what is sent to any of them afterwards arrives, as after group_add."""
    channel = await layer.new_channel()
    other = await layer.new_channel()
    await layer.group_add("shared", other)  # subscribed already: not asked for again
    shard = layer._get_layer()._get_shard(channel)
    with mock.patch.object(shard._pubsub, "subscribe", wraps=shard._pubsub.subscribe) as subscribe:
        await layer.group_add_many(["own", "shared", "queue"], channel)
    [call] = subscribe.call_args_list
    names = [layer._get_layer()._get_group_channel_name(g) for g in ("own", "queue")]
    assert list(call.args) == names
    for n, group in enumerate(["own", "shared", "queue"]):
        await layer.group_send(group, {"type": "t", "n": n})
    got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(3)]
    assert [m["n"] for m in got] == [0, 1, 2]
    assert (await asyncio.wait_for(layer.receive(other), 5))["n"] == 1
    # Left one by one, like any group.
    await layer.group_discard("own", channel)
    await layer.group_send("own", {"type": "t", "n": 9})
    await layer.group_send("queue", {"type": "t", "n": 10})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 10


async def test_groups_added_while_redis_is_away_are_noted_for_the_watcher(layer):
    channel = await layer.new_channel()
    shard = layer._get_layer()._get_shard(channel)
    with (
        mock.patch.object(shard._pubsub, "subscribe", side_effect=ConnectionError("gone")),
        mock.patch("realtime.layer_watch.note_trouble") as trouble,
    ):
        await layer.group_add_many(["a", "b"], channel)  # does not raise
    trouble.assert_called_once()
    groups = layer._get_layer().groups
    assert all(channel in groups[layer._get_layer()._get_group_channel_name(g)] for g in "ab")
    with pytest.raises(RuntimeError):
        await layer.group_add_many(["a"], "specific.of-another-process")


async def test_channel_names_are_unique_without_a_random_draw_each(layer, monkeypatch):
    import os
    import uuid

    from realtime import layers

    names = {await layer.new_channel() for _ in range(200)}
    assert len(names) == 200
    draws = []
    monkeypatch.setattr(uuid, "uuid4", lambda: draws.append(1) or uuid.UUID(int=len(draws)))
    await layer.new_channel()
    assert draws == []  # drawn once per process, not per socket
    # A forked worker draws its own part: its names never meet its parent's.
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = await layer.new_channel()
    assert draws == [1] and child not in names
    assert child.rsplit(".", 1)[1][:20] != next(iter(names)).rsplit(".", 1)[1][:20]
    monkeypatch.setattr(layers, "_names_pid", 0)  # the next test draws afresh


async def test_sockets_opening_in_one_turn_share_one_subscribe(layer):
    """A reconnect storm: each socket's channel and groups, one command for them all."""
    first = await layer.new_channel()  # the shard's subscription exists
    shard = layer._get_layer()._get_shard(first)
    with mock.patch.object(shard._pubsub, "subscribe", wraps=shard._pubsub.subscribe) as subscribe:

        async def opening(n: int) -> str:
            channel = await layer.new_channel()
            await layer.group_add(f"contact-{n}", channel)
            return channel

        channels = await asyncio.gather(*(opening(n) for n in range(50)))
    # The channels in one command, then the groups in another: not 100 commands.
    assert subscribe.call_count == 2, subscribe.call_count
    assert sorted(subscribe.call_args_list[0].args) == sorted(channels)
    for n, channel in enumerate(channels):
        await layer.group_send(f"contact-{n}", {"type": "t", "n": n})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == n
    # A failed batch fails each of its callers, who note it for the watcher.
    with (
        mock.patch.object(shard._pubsub, "subscribe", side_effect=ConnectionError("gone")),
        mock.patch("realtime.layer_watch.note_trouble") as trouble,
    ):
        await asyncio.gather(*(layer.group_add(f"late-{n}", channels[n]) for n in range(3)))
    assert trouble.call_count == 3
