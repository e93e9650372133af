"""The routing decision: which waiting contact is offered to which supporter.

``decide(snapshot)`` is pure and deterministic: it reads only the snapshot
(``routing.types``), imports neither Django nor Redis nor asyncio, and gives the
same decision for the same snapshot whatever the order of its tuples. The
caller (``routing.services``) loads the snapshot, applies the decision
atomically and publishes the events. See docs/architecture.md section 2.

Rules
-----
1. Offer expiry. A pending offer at least ``offer_timeout_s`` old is expired
   (``ExpireOffer``). For the rest of the round the contact waits again with
   that supporter among its decliners, and the supporter is treated as
   unavailable (the caller sets them away).
2. Step timeouts and fall-through. A contact whose step has run for at least
   its ``timeout_s`` moves on to the next step; so does, at once, a contact
   whose step has no open eligible provider at all. Several steps may be
   passed in one round (a timed-out step starts the next one at the moment it
   timed out, so a contact that waited through an outage catches up); one
   ``Advance`` carries the final index. A contact never advances into a dead
   end: when no later step has an open eligible provider it stays where it is
   (and, if its own step has none either, gets a ``ClosedNotice``, rule 7), so
   customers waiting overnight are answered regionally in the morning.
   Pinned contacts and contacts with a live pending offer never advance.
3. Eligible providers for (contact, step): the provider offers the contact's
   channel, is open, matches the step's target (municipality in
   ``municipalities``, region in ``regions``, development area in
   ``development_areas``, national -> ``is_national``) and, when the step
   requires the language, lists it. An unknown (``None``) municipality, region
   or area matches no local target, so such contacts fall through to national.
   ``pinned_provider`` replaces the step: only that provider, if it is open and
   offers the channel, with no language or topic requirement.
   ``pinned_supporter`` replaces both: only that supporter, whatever the
   opening hours (a named colleague who is online may take a transfer late).
4. Eligible supporters: presence "available" (a busy supporter is either full
   or has chosen not to take contacts), a member of an eligible provider, free
   capacity on the channel (capacity - load - live pending offers - offers made
   earlier in this round), speaks the language when the step requires it, has
   the topic skill when the step requires it and the contact has a topic, has
   not declined the contact. When the language is not required (national
   step, pinned provider) speakers of it are still preferred when any is free.
5. Order. Contacts are served by (priority desc, waiting_since asc, id asc),
   so FIFO within a priority and callbacks first. Contacts with a live pending
   offer are skipped. A returning customer's preferred supporter gets the
   offer when eligible; otherwise the eligible supporter idle the longest
   (idle_since asc, then id). A supporter offered a contact earlier in the
   round is no longer idle: they come after everyone not yet offered one, so
   a quiet colleague is not passed over for someone just given three chats.
   Offers stop at each supporter's free capacity.
6. Positions. Every waiting contact that got no offer (this round or pending)
   gets a ``Position`` in its queue, the queue being (channel, eligible
   provider ids at its step): 1 + the number of such contacts ahead of it in
   the rule 5 order. ``estimated_wait_s = ceil(position / servers) *
   handle_time_s[channel]`` where ``servers`` is the total channel capacity of
   the queue providers' supporters who are available or busy; ``None`` when
   there are no servers or no handle time is known for the channel. A contact
   pinned to a supporter queues for that supporter alone; a closed contact's
   queue has no providers, hence no estimate. Later workflow steps bound the
   wait: a contact reaches step j after ``delay_j`` seconds (what is left of
   the current step's timeout plus the timeouts of the open steps between),
   so when step j's providers have an available supporter with free capacity
   on the channel the estimate is at most ``delay_j``, and otherwise at most
   ``delay_j + ceil(position / servers_j) * handle_time_s``. The smallest of
   these and the current step's estimate wins; a later step with servers gives
   an estimate when the current step has none.
7. Closed. A waiting contact for which no step from its current one on has an
   open eligible provider gets a ``ClosedNotice`` whose ``opens_at`` is the
   earliest ``next_open`` of the providers that could serve it at one of those
   steps (ignoring opening hours), ``None`` if none will open.
8. No idle supporter beside a waiting contact. After rules 1-7 have been
   applied to every contact, the contacts left without an offer are taken
   again in the rule 5 order: each is offered to an idle supporter who could
   serve it at a later step of its workflow (up to the step that ends it, rule
   2), the earliest such step first and the rule 4 checks applied at that
   step. Idle means available, not blocked, carrying no contact and no pending
   offer on any channel, and offered nothing this round. The contact keeps its
   step (no ``Advance``): if the offer is declined or expires it waits for its
   own step's supporters as before. So a supporter of the region is not left
   idle while a customer of one of its municipalities waits for the
   municipality's busy supporters; a supporter with some work already waits
   for the step timeout as before. Pinned and closed contacts are left alone.

A contact whose workflow is missing from the snapshot is routed by
``DEFAULT_STEPS`` (``NATIONAL_FIRST_LINE_STEPS`` when its municipality is
unknown) rather than dropped; a step index past the end means the last step.

Performance: one round over 1,000 waiting contacts and 300 supporters must stay
well under 50 ms. Providers are indexed by area, supporters by provider and
channel. Within a round, eligible provider sets are computed once per (target,
area, channel, language), a contact's whole plan once per kind of contact (the
workflow and the attributes its steps look at), and the candidate supporters
once per (provider set, channel), sorted by idle time and pruned as they fill
up. A search that finds nobody is remembered for the rest of the round, and
searching stops for a channel once nobody has free capacity on it.

For the national surge (10,000 waiting contacts, 1,000 supporters) contacts
alike share more: one route per (plan, step, language, topic), which carries
its queue's servers and a "nobody left" flag shared with every route asking
for the same supporters, and rule 8's idle search is remembered per route.
The garbage collector is paused for the round (tests/routing/
test_engine_sharing.py checks that sharing never changes a decision).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import attrgetter

from routing.types import (
    DEFAULT_STEPS,
    NATIONAL_FIRST_LINE_STEPS,
    Advance,
    ClosedNotice,
    Decision,
    ExpireOffer,
    Offer,
    Position,
    ProviderState,
    Snapshot,
    Step,
    SupporterState,
    WaitingContact,
)

__all__ = ["decide", "order_key"]

_EMPTY: frozenset[int] = frozenset()
_SERVING_PRESENCES = frozenset({"available", "busy"})


def order_key(contact: WaitingContact) -> tuple[int, datetime, int]:
    """The service order of rule 5: priority desc, waiting_since asc, id asc."""
    return (-contact.priority, contact.waiting_since, contact.id)


def decide(snapshot: Snapshot) -> Decision:
    """Decide one routing round for ``snapshot`` (see the module docstring)."""
    # A round leaves no reference cycles (its temporaries go with their last
    # reference), but the objects of its decision would trigger collections
    # that walk the whole snapshot again and again: with 10,000 contacts they
    # cost as much as the decision. Collecting once after the round finds
    # the same garbage.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Round(snapshot).run()
    finally:
        if collecting:
            gc.enable()


class _StepProviders:
    """Providers for one step of one kind of contact: open ones, and all of them."""

    __slots__ = ("open_ids", "could_serve")

    def __init__(self, open_ids: frozenset[int], could_serve: tuple[ProviderState, ...]):
        self.open_ids = open_ids
        self.could_serve = could_serve


class _Plan:
    """Eligible providers per step for one kind of contact, and where it can go from each step."""

    __slots__ = ("steps", "per_step", "_from")

    def __init__(self, steps: tuple[Step, ...], per_step: list[_StepProviders]) -> None:
        self.steps = steps
        self.per_step = per_step
        self._from: dict[int, tuple[int, list[bool], datetime | None]] = {}

    def from_index(self, index: int) -> tuple[int, list[bool], datetime | None]:
        """(last reachable step, reachable, opens_at) for a contact at step ``index``.

        ``reachable[j]``: some step in j..last has an open eligible provider.
        ``opens_at`` is only meaningful when nothing is reachable (rule 7).
        """
        found = self._from.get(index)
        if found is None:
            steps, last = self.steps, len(self.steps) - 1
            # A terminal step in the middle of a workflow ends it.
            end = index
            while end < last and not steps[end].is_terminal:
                end += 1
            reachable = [False] * (end + 2)
            for j in range(end, index - 1, -1):
                reachable[j] = reachable[j + 1] or bool(self.per_step[j].open_ids)
            opens_at = None
            if not reachable[index]:
                opens_at = _earliest_opening(self.per_step[index : end + 1])
            found = (end, reachable, opens_at)
            self._from[index] = found
        return found


class _Route:
    """Where contacts of one kind are routed this round.

    Contacts with the same plan, step, language and topic share one route, so
    what only depends on the route (its queue's servers, a search that found
    nobody) is worked out once per round rather than once per contact.
    """

    __slots__ = (
        "step_index",
        "channel",
        "providers",
        "language_required",
        "language_preferred",
        "topic_required",
        "only_supporter",
        "closed",
        "opens_at",
        "later",
        "servers",
        "failed",
    )

    def __init__(self, channel: str) -> None:
        self.step_index = 0
        self.channel = channel
        self.providers: frozenset[int] = _EMPTY
        self.language_required: str | None = None
        self.language_preferred: str | None = None
        self.topic_required: str | None = None
        self.only_supporter: int | None = None
        self.closed = False
        self.opens_at: datetime | None = None
        # Later steps with open providers, each as (seconds to add to the
        # previous one's delay, its providers); the first one's delay is
        # the contact's own (what is left of its current step).
        self.later: tuple[tuple[float, frozenset[int]], ...] = ()
        self.servers = -1  # the queue's servers (rule 6), once known
        # [True] once a search for these supporters found nobody (rule 4).
        self.failed: list[bool] = [False]


class _Round:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.now = snapshot.now
        self.supporters = {s.id: s for s in snapshot.supporters}
        self.providers = {p.id: p for p in snapshot.providers}
        self.members: dict[int, list[SupporterState]] = {}
        for s in snapshot.supporters:
            for pid in s.provider_ids:
                self.members.setdefault(pid, []).append(s)
        self.by_area: dict[str, dict[str, list[ProviderState]]] = {
            "municipality": {},
            "region": {},
            "development_area": {},
        }
        self.national: list[ProviderState] = []
        for p in sorted(snapshot.providers, key=lambda p: p.id):
            for value in p.municipalities:
                self.by_area["municipality"].setdefault(value, []).append(p)
            for value in p.regions:
                self.by_area["region"].setdefault(value, []).append(p)
            for value in p.development_areas:
                self.by_area["development_area"].setdefault(value, []).append(p)
            if p.is_national:
                self.national.append(p)
        # Caches that live for this round only.
        self._step_cache: dict[tuple, _StepProviders] = {}
        self._shapes: dict[object, tuple[tuple[Step, ...], set[str], bool]] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._raw_plans: dict[tuple, _Plan] = {}
        self._kinds: dict[tuple, tuple] = {}
        self._routes: dict[tuple, list[_Route | None]] = {}
        self._failures: dict[tuple, list[bool]] = {}
        self._idle_failed: set[_Route] = set()
        self._candidates: dict[tuple[frozenset[int], str], list[SupporterState]] = {}
        self.offered_now: set[int] = set()
        self._servers_cache: dict[str, dict[object, int]] = {}
        # (providers, channel) -> a supporter last seen free there, None: nobody (rule 6).
        self._free_at: dict[tuple[frozenset[int], str], int | None] = {}

    # -- rule 1 ---------------------------------------------------------------

    def _expire_offers(self, contacts: Iterable[WaitingContact]) -> None:
        timeout = timedelta(seconds=self.snapshot.offer_timeout_s)
        self.expirations: list[ExpireOffer] = []
        self.blocked: set[int] = set()
        self.extra_decline: dict[int, int] = {}
        self.live_pending: set[int] = set()
        self.pending_load: dict[tuple[int, str], int] = {}
        for c in contacts:
            offer = c.pending_offer
            if offer is None:
                continue
            if self.now - offer.offered_at >= timeout:
                self.expirations.append(ExpireOffer(c.id, offer.supporter_id))
                self.blocked.add(offer.supporter_id)
                self.extra_decline[c.id] = offer.supporter_id
            else:
                self.live_pending.add(c.id)
                key = (offer.supporter_id, c.channel)
                self.pending_load[key] = self.pending_load.get(key, 0) + 1

    def _free_capacity(self) -> None:
        """Free slots per channel and supporter, for supporters who may get offers."""
        self.free: dict[str, dict[int, int]] = {}
        self.total_free: dict[str, int] = {}
        for s in self.snapshot.supporters:
            if s.presence != "available" or s.id in self.blocked:
                continue
            for channel, capacity in s.capacity.items():
                free = capacity - s.load.get(channel, 0) - self.pending_load.get((s.id, channel), 0)
                if free > 0:
                    self.free.setdefault(channel, {})[s.id] = free
                    self.total_free[channel] = self.total_free.get(channel, 0) + free

    # -- rules 2, 3 and 7 -----------------------------------------------------

    def _step_providers(self, step: Step, c: WaitingContact) -> _StepProviders:
        target = step.target
        if target == "national":
            value = None
        elif target == "region":
            value = c.region
        elif target == "municipality":
            value = c.municipality
        elif target == "development_area":
            value = c.development_area
        else:
            value = None
            target = "unknown"
        language = c.language if step.require_language else None
        key = (target, value, c.channel, language)
        found = self._step_cache.get(key)
        if found is not None:
            return found
        if target == "national":
            pool: list[ProviderState] = self.national
        elif value is None or target == "unknown":
            pool = []
        else:
            pool = self.by_area[target].get(value, [])
        could_serve = tuple(
            p
            for p in pool
            if c.channel in p.channels and (language is None or language in p.languages)
        )
        found = _StepProviders(frozenset(p.id for p in could_serve if p.is_open), could_serve)
        self._step_cache[key] = found
        return found

    def _plan(self, c: WaitingContact) -> _Plan:
        """The plan shared by contacts whose workflow sees them alike."""
        raw = (c.workflow_id, c.channel, c.language, c.municipality, c.region, c.development_area)
        plan = self._raw_plans.get(raw)
        if plan is None:
            plan = self._raw_plans[raw] = self._shared_plan(c)
        return plan

    def _shared_plan(self, c: WaitingContact) -> _Plan:
        workflow = self.snapshot.workflows.get(c.workflow_id)
        if workflow is not None and workflow.steps:
            workflow_key: object = c.workflow_id
        else:
            workflow_key = ("fallback", c.municipality is None)
        shape = self._shapes.get(workflow_key)
        if shape is None:
            if workflow is not None and workflow.steps:
                steps = workflow.steps
            elif c.municipality is not None:
                steps = DEFAULT_STEPS
            else:
                steps = NATIONAL_FIRST_LINE_STEPS
            targets = {step.target for step in steps}
            shape = (steps, targets, any(step.require_language for step in steps))
            self._shapes[workflow_key] = shape
        steps, targets, uses_language = shape
        # Only what some step looks at goes into the key, so that contacts
        # from different municipalities of a region share one plan.
        key = (
            workflow_key,
            c.channel,
            c.language if uses_language else None,
            c.municipality if "municipality" in targets else None,
            c.region if "region" in targets else None,
            c.development_area if "development_area" in targets else None,
        )
        plan = self._plans.get(key)
        if plan is None:
            plan = _Plan(steps, [self._step_providers(step, c) for step in steps])
            self._plans[key] = plan
        return plan

    def _route(self, c: WaitingContact) -> tuple[_Route, float]:
        """The contact's route, and the seconds left until its first later step."""
        if c.pinned_supporter is not None:
            route = _Route(c.channel)
            route.step_index = c.step_index
            route.only_supporter = c.pinned_supporter
            route.language_preferred = c.language
            supporter = self.supporters.get(c.pinned_supporter)
            route.providers = supporter.provider_ids if supporter is not None else _EMPTY
            self._mark_failures(route)
            return route, 0.0
        if c.pinned_provider is not None:
            route = _Route(c.channel)
            route.step_index = c.step_index
            route.language_preferred = c.language
            provider = self.providers.get(c.pinned_provider)
            serves = provider is not None and c.channel in provider.channels
            if serves and provider.is_open:
                route.providers = frozenset((provider.id,))
            else:
                route.closed = True
                route.opens_at = provider.next_open if serves else None
            self._mark_failures(route)
            return route, 0.0

        plan = self._plan(c)
        raw = (plan, c.step_index, c.language, c.topic)
        kind = self._kinds.get(raw)
        if kind is None:
            kind = self._kinds[raw] = self._kind(c, plan)
        plan, index, end, reachable, closed_route, routes = kind
        if closed_route is not None:
            return closed_route, 0.0

        steps, per_step = plan.steps, plan.per_step
        elapsed = (self.now - c.step_started_at).total_seconds()
        while index < end and reachable[index + 1]:
            step = steps[index]
            if not per_step[index].open_ids:
                index += 1
                elapsed = 0.0
            elif elapsed >= step.timeout_s:
                index += 1
                elapsed -= step.timeout_s
            else:
                break
        route = routes[index]
        if route is None:
            route = routes[index] = self._new_route(c, plan, index, end, closed=False)
        if index >= end:
            return route, 0.0
        return route, max(0.0, steps[index].timeout_s - elapsed)

    def _kind(self, c: WaitingContact, plan: _Plan) -> tuple:
        """What every contact alike (same plan, step, language, topic) starts from."""
        index = min(max(c.step_index, 0), len(plan.steps) - 1)
        end, reachable, _opens_at = plan.from_index(index)
        # Routes by the step the walk ends at, shared by the start steps.
        routes = self._routes.setdefault((plan, c.language, c.topic), [None] * len(plan.steps))
        closed_route = None
        if not reachable[index]:
            closed_route = self._new_route(c, plan, index, end, closed=True)
        return plan, index, end, reachable, closed_route, routes

    def _new_route(
        self, c: WaitingContact, plan: _Plan, index: int, end: int, *, closed: bool
    ) -> _Route:
        route = _Route(c.channel)
        route.step_index = index
        if closed:
            route.closed = True
            route.opens_at = plan.from_index(index)[2]
        else:
            route.providers = plan.per_step[index].open_ids
            route.later = self._later_steps(plan.steps, plan.per_step, index, end)
        self._set_requirements(route, plan.steps[index], c)
        self._mark_failures(route)
        return route

    def _mark_failures(self, route: _Route) -> None:
        # Routes asking for the same supporters share one "nobody left" flag.
        key = (route.providers, route.channel, route.language_required, route.topic_required)
        route.failed = self._failures.setdefault(key, [False])

    @staticmethod
    def _later_steps(
        steps: tuple[Step, ...],
        per_step: list[_StepProviders],
        index: int,
        end: int,
    ) -> tuple[tuple[float, frozenset[int]], ...]:
        """The later steps with open providers and the timeouts between them (rule 6)."""
        later: list[tuple[float, frozenset[int]]] = []
        add = 0.0
        for j in range(index + 1, end + 1):
            open_ids = per_step[j].open_ids
            if not open_ids:
                continue  # skipped at once, as in the walk above
            later.append((add, open_ids))
            add = steps[j].timeout_s if j < end else 0.0
        return tuple(later)

    @staticmethod
    def _set_requirements(route: _Route, step: Step, c: WaitingContact) -> None:
        if step.require_language:
            route.language_required = c.language
        else:
            route.language_preferred = c.language
        if step.require_topic and c.topic is not None:
            route.topic_required = c.topic

    # -- rules 4 and 5 --------------------------------------------------------

    def _candidates_for(self, providers: frozenset[int], channel: str) -> list[SupporterState]:
        key = (providers, channel)
        found = self._candidates.get(key)
        if found is None:
            free = self.free.get(channel, {})
            seen: dict[int, SupporterState] = {}
            for pid in providers:
                for s in self.members.get(pid, ()):
                    if s.id in free:
                        seen[s.id] = s
            found = sorted(seen.values(), key=lambda s: (s.idle_since, s.id))
            self._candidates[key] = found
        return found

    def _find_supporter(
        self, c: WaitingContact, route: _Route, declined: frozenset[int]
    ) -> int | None:
        channel = c.channel
        free = self.free.get(channel)
        if not free or self.total_free.get(channel, 0) <= 0:
            return None
        if route.only_supporter is not None:
            sid = route.only_supporter
            if free.get(sid, 0) > 0 and sid not in declined:
                return sid
            return None
        if not route.providers:
            return None

        language = route.language_required
        topic = route.topic_required
        preferred = c.preferred_supporter
        if preferred is not None and free.get(preferred, 0) > 0 and preferred not in declined:
            s = self.supporters[preferred]
            if (
                not s.provider_ids.isdisjoint(route.providers)
                and (language is None or language in s.languages)
                and (topic is None or topic in s.skills)
            ):
                return preferred

        if route.failed[0]:
            return None
        candidates = self._candidates_for(route.providers, channel)
        wanted = route.language_preferred
        offered = self.offered_now
        # Rank: speaks the preferred language first, then not yet offered one
        # this round; within a rank the candidates are already in idle order.
        chosen: SupporterState | None = None
        chosen_rank = 4
        full: list[int] = []
        for i, s in enumerate(candidates):
            if free.get(s.id, 0) <= 0:
                full.append(i)
                continue
            if s.id in declined:
                continue
            if language is not None and language not in s.languages:
                continue
            if topic is not None and topic not in s.skills:
                continue
            rank = 0 if wanted is None or wanted in s.languages else 2
            if s.id in offered:
                rank += 1
            if rank < chosen_rank:
                chosen, chosen_rank = s, rank
                if rank == 0:
                    break
        for i in reversed(full):
            del candidates[i]  # free slots only shrink within a round
        if chosen is None:
            if not declined:
                # Capacity only shrinks within a round, so the next contact
                # with the same needs would find nobody either.
                route.failed[0] = True
            return None
        return chosen.id

    # -- rule 6 ---------------------------------------------------------------

    def _servers(
        self,
        route: _Route,
        channel: str,
        queue: object,
        *,
        providers: frozenset[int] | None = None,
    ) -> int:
        cache = self._servers_cache.setdefault(channel, {})
        found = cache.get(queue)
        if found is not None:
            return found
        if providers is not None:
            unique_later: dict[int, SupporterState] = {}
            for pid in providers:
                for s in self.members.get(pid, ()):
                    unique_later[s.id] = s
            pool: Iterable[SupporterState] = unique_later.values()
        elif route.only_supporter is not None:
            pool = [s for s in (self.supporters.get(route.only_supporter),) if s is not None]
        else:
            unique: dict[int, SupporterState] = {}
            for pid in route.providers:
                for s in self.members.get(pid, ()):
                    unique[s.id] = s
            pool = unique.values()
        found = sum(
            s.capacity.get(channel, 0)
            for s in pool
            if s.presence in _SERVING_PRESENCES and s.id not in self.blocked
        )
        cache[queue] = found
        return found

    def _estimate(self, position: int, servers: int, channel: str) -> int | None:
        handle_time = self.snapshot.handle_time_s.get(channel)
        if servers <= 0 or handle_time is None:
            return None
        rounds = -(-position // servers)
        return round(rounds * handle_time)

    def _has_free(self, providers: frozenset[int], channel: str) -> bool:
        """Someone available among `providers` still has a free slot on `channel`.

        Free slots only shrink within a round, so a "nobody" is remembered for
        the rest of it and a "somebody" is re-checked on that one supporter
        first; a scan happens only when the remembered one has filled up.
        """
        free = self.free.get(channel)
        if not free:
            return False
        key = (providers, channel)
        known = self._free_at.get(key, -1)
        if known is None:
            return False
        if known >= 0 and free.get(known, 0) > 0:
            return True
        for pid in providers:
            for s in self.members.get(pid, ()):
                if free.get(s.id, 0) > 0:
                    self._free_at[key] = s.id
                    return True
        self._free_at[key] = None
        return False

    def _bounded_estimate(
        self, route: _Route, position: int, servers: int, channel: str, delay: float
    ) -> int | None:
        """Rule 6's estimate; ``delay``: seconds until the contact's first later step."""
        best = self._estimate(position, servers, channel)
        for add, providers in route.later:
            delay += add
            if best is not None and delay >= best:
                break  # later steps only come later still
            if self._has_free(providers, channel):
                bound: int | None = round(delay)
            else:
                later_servers = self._servers(route, channel, providers, providers=providers)
                wait = self._estimate(position, later_servers, channel)
                bound = None if wait is None else round(delay) + wait
            if bound is not None and (best is None or bound < best):
                best = bound
        return best

    # -- rule 8 ---------------------------------------------------------------

    def _take(self, sid: int, channel: str) -> None:
        self.offered_now.add(sid)
        self.free[channel][sid] -= 1
        self.total_free[channel] -= 1

    def _idle_supporters(self) -> list[SupporterState]:
        """Supporters with nothing to do, in idle order (rule 8)."""
        busy = {sid for sid, _channel in self.pending_load} | self.offered_now
        idle = [
            s
            for s in self.snapshot.supporters
            if s.presence == "available"
            and s.id not in self.blocked
            and s.id not in busy
            and not any(s.load.values())
        ]
        idle.sort(key=lambda s: (s.idle_since, s.id))
        return idle

    def _find_idle_later(
        self, c: WaitingContact, route: _Route, declined: frozenset[int]
    ) -> int | None:
        if not self._idle or route.closed:
            return None
        if route.only_supporter is not None or c.pinned_provider is not None:
            return None
        free = self.free.get(c.channel)
        if not free:
            return None
        if not declined and route in self._idle_failed:
            return None
        plan = self._plan(c)
        end, _reachable, _opens = plan.from_index(route.step_index)
        offered = self.offered_now
        if offered and self._idle[0].id in offered:
            # Those offered one this round are out of the idle list for good.
            self._idle[:] = [s for s in self._idle if s.id not in offered]
            if not self._idle:
                return None
        for index in range(route.step_index + 1, end + 1):
            providers = plan.per_step[index].open_ids
            if not providers:
                continue
            step = plan.steps[index]
            language = c.language if step.require_language else None
            topic = c.topic if step.require_topic else None
            chosen = None
            for s in self._idle:
                if s.id in self.offered_now or free.get(s.id, 0) <= 0 or s.id in declined:
                    continue
                if s.provider_ids.isdisjoint(providers):
                    continue
                if language is not None and language not in s.languages:
                    continue
                if topic is not None and topic not in s.skills:
                    continue
                if language is None and c.language not in s.languages:
                    # Speakers of the contact's language first (rule 4).
                    chosen = chosen or s
                    continue
                chosen = s
                break
            if chosen is not None:
                return chosen.id
        if not declined:
            # The idle list only shrinks within a round: the next contact
            # of this route would find nobody either.
            self._idle_failed.add(route)
        return None

    # -- the round ------------------------------------------------------------

    def run(self) -> Decision:
        # Three stable sorts give the order_key order without building a
        # tuple per contact (fewer allocations, fewer garbage collections).
        contacts = sorted(self.snapshot.contacts, key=_by_id)
        contacts.sort(key=_by_waiting_since)
        contacts.sort(key=_by_priority, reverse=True)
        self._expire_offers(contacts)
        self._free_capacity()

        offers: list[Offer] = []
        advances: list[Advance] = []
        positions: list[Position] = []
        closed: list[ClosedNotice] = []
        queue_lengths: dict[str, dict[object, int]] = {}
        # Contacts left without an offer, their routes, declines and delays
        # (parallel lists rather than a tuple per contact: fewer objects).
        unserved: list[WaitingContact] = []
        unserved_routes: list[_Route] = []
        unserved_declined: list[frozenset[int]] = []
        unserved_delays: list[float] = []

        live_pending = self.live_pending
        extra_decline = self.extra_decline
        for c in contacts:
            if c.id in live_pending:
                continue
            route, delay = self._route(c)
            if route.step_index > c.step_index:
                advances.append(Advance(c.id, route.step_index))
            if route.closed:
                closed.append(ClosedNotice(c.id, route.opens_at))

            declined = c.declined_by
            extra = extra_decline.get(c.id)
            if extra is not None:
                declined = declined | {extra}
            if route.closed or (
                # Nobody left for this route: only a preferred supporter might be.
                route.failed[0] and c.preferred_supporter is None and route.only_supporter is None
            ):
                sid = None
            else:
                sid = self._find_supporter(c, route, declined)
            if sid is not None:
                offers.append(Offer(c.id, sid))
                self._take(sid, c.channel)
                continue
            unserved.append(c)
            unserved_routes.append(route)
            unserved_declined.append(declined)
            unserved_delays.append(delay)

        self._idle = self._idle_supporters()
        idle_failed = self._idle_failed
        for c, route, declined, delay in zip(
            unserved, unserved_routes, unserved_declined, unserved_delays, strict=True
        ):
            if self._idle and (declined or route not in idle_failed):
                sid = self._find_idle_later(c, route, declined)
                if sid is not None:
                    offers.append(Offer(c.id, sid))
                    self._take(sid, c.channel)
                    continue
            # The queue is (channel, providers), or the one supporter pinned.
            channel = c.channel
            queue = route.providers if route.only_supporter is None else route.only_supporter
            lengths = queue_lengths.get(channel)
            if lengths is None:
                lengths = queue_lengths[channel] = {}
            position = lengths.get(queue, 0) + 1
            lengths[queue] = position
            servers = route.servers
            if servers < 0:
                servers = route.servers = self._servers(route, channel, queue)
            if route.later:
                estimate = self._bounded_estimate(route, position, servers, channel, delay)
            else:
                estimate = self._estimate(position, servers, channel)
            positions.append(Position(c.id, position, estimate))

        return Decision(
            offers=tuple(offers),
            advances=tuple(advances),
            expirations=tuple(self.expirations),
            positions=tuple(positions),
            closed=tuple(closed),
        )


_by_id = attrgetter("id")
_by_waiting_since = attrgetter("waiting_since")
_by_priority = attrgetter("priority")


def _earliest_opening(per_step: list[_StepProviders]) -> datetime | None:
    times = [p.next_open for sp in per_step for p in sp.could_serve if p.next_open is not None]
    return min(times) if times else None
