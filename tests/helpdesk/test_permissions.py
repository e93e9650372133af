"""Every role against every protected action, in one table."""

import uuid

import pytest

from helpdesk.permissions import Action, Actor, can, require
from helpdesk.services.errors import NotAllowed

C1, C2 = uuid.uuid4(), uuid.uuid4()
P1, P2, P_NATIONAL = 1, 2, 9
R1, R2 = 101, 102

ACTORS = {
    "anonymous": Actor(),
    "customer": Actor(contact_public_id=C1),
    "other_customer": Actor(contact_public_id=C2),
    "volunteer": Actor(supporter_id=11, supporter_kind="volunteer", provider_ids=frozenset({P1})),
    "volunteer_serving": Actor(
        supporter_id=10, supporter_kind="volunteer", provider_ids=frozenset({P1})
    ),
    "staff_serving": Actor(supporter_id=10, supporter_kind="staff", provider_ids=frozenset({P1})),
    "staff_elsewhere": Actor(supporter_id=12, supporter_kind="staff", provider_ids=frozenset({P2})),
    "kansalaisneuvonta": Actor(
        supporter_id=13,
        supporter_kind="staff",
        provider_ids=frozenset({P_NATIONAL}),
        national_agent=True,
    ),
    "provider_admin": Actor(user_id=20, admin_provider_ids=frozenset({P1})),
    "provider_admin_elsewhere": Actor(user_id=21, admin_provider_ids=frozenset({P2})),
    "coordinator": Actor(user_id=22, coordinator_region_ids=frozenset({R1})),
    "coordinator_elsewhere": Actor(user_id=23, coordinator_region_ids=frozenset({R2})),
    "national_admin": Actor(user_id=24, national_admin=True),
    "superuser": Actor(user_id=25, superuser=True),
}

CONTACT = {
    "contact": C1,
    "providers": frozenset({P1}),
    "regions": frozenset({R1}),
    "serving_supporter": 10,
}
PROVIDER = {"providers": frozenset({P1}), "regions": frozenset({R1})}
REGION = {"regions": frozenset({R1})}

SUPPORTERS = {
    "volunteer",
    "volunteer_serving",
    "staff_serving",
    "staff_elsewhere",
    "kansalaisneuvonta",
}
SERVING = {"volunteer_serving", "staff_serving"}
IN_SCOPE_SUPPORTERS = {"volunteer", "volunteer_serving", "staff_serving"}

EXPECTED: dict[Action, tuple[dict | None, set[str]]] = {
    Action.CUSTOMER_SEND: (CONTACT, {"customer"}),
    Action.FEEDBACK_GIVE: (CONTACT, {"customer"}),
    Action.QUEUE_VIEW: (CONTACT, IN_SCOPE_SUPPORTERS),
    Action.CONTACT_ACCEPT: (CONTACT, IN_SCOPE_SUPPORTERS),
    Action.CONTACT_PICK: (CONTACT, IN_SCOPE_SUPPORTERS),
    Action.CONTACT_CHAT: (CONTACT, SERVING),
    Action.CONTACT_TRANSFER: (CONTACT, SERVING),
    Action.CONTACT_ESCALATE: (CONTACT, SERVING),
    Action.CONTACT_END: (CONTACT, SERVING),
    Action.CUSTOMER_DETAILS_VIEW: (CONTACT, {"staff_serving"}),
    Action.VIDEO_DIRECT_PATH: (CONTACT, {"staff_serving"}),
    Action.TRANSCRIPT_READ: (
        CONTACT,
        SERVING | {"provider_admin", "coordinator", "national_admin"},
    ),
    Action.PROVIDER_MANAGE: (PROVIDER, {"provider_admin", "coordinator", "national_admin"}),
    Action.SUPPORTERS_MANAGE: (PROVIDER, {"provider_admin", "coordinator", "national_admin"}),
    Action.WORKFLOW_EDIT: (REGION, {"coordinator", "national_admin"}),
    Action.STATS_REGION_VIEW: (REGION, {"coordinator", "national_admin"}),
    Action.STATS_NATIONAL_VIEW: (None, {"national_admin"}),
    Action.STATS_PROVIDER_VIEW: (PROVIDER, {"provider_admin", "national_admin"}),
    Action.REFERENCE_DATA_MANAGE: (None, {"national_admin"}),
    Action.ARTICLE_PUBLISH: (None, {"national_admin"}),
    Action.ARTICLE_EDIT: (
        None,
        {
            "staff_serving",
            "staff_elsewhere",
            "kansalaisneuvonta",
            "provider_admin",
            "provider_admin_elsewhere",
            "coordinator",
            "coordinator_elsewhere",
            "national_admin",
        },
    ),
    Action.GOOD_PRACTICE_SUBMIT: (
        None,
        SUPPORTERS
        | {
            "provider_admin",
            "provider_admin_elsewhere",
            "coordinator",
            "coordinator_elsewhere",
            "national_admin",
        },
    ),
    Action.GOOD_PRACTICE_PUBLISH: (
        None,
        {"coordinator", "coordinator_elsewhere", "national_admin"},
    ),
}


# A Django superuser may do exactly what a national administrator may: every
# administrative action everywhere, and nothing that belongs to a customer or
# to the supporter serving a contact.
for _target, _allowed in EXPECTED.values():
    if "national_admin" in _allowed:
        _allowed.add("superuser")


def test_the_table_names_every_action():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("role", list(ACTORS))
def test_role_against_action(role, action):
    target, allowed = EXPECTED[action]
    actor = ACTORS[role]
    assert can(actor, action, target) is (role in allowed)
    if role in allowed:
        require(actor, action, target)
    else:
        with pytest.raises(NotAllowed):
            require(actor, action, target)


def test_escalated_contact_is_in_scope_for_kansalaisneuvonta():
    escalated = dict(CONTACT, providers=frozenset({P1, P_NATIONAL}))
    assert can(ACTORS["kansalaisneuvonta"], Action.CONTACT_PICK, escalated)
    assert not can(ACTORS["staff_elsewhere"], Action.CONTACT_PICK, escalated)


@pytest.mark.django_db
def test_actor_for_user_reads_supporter_and_grants(demo_network):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    volunteer = Actor.for_user(users.get(username="pk-volunteer"))
    assert volunteer.is_volunteer and volunteer.provider_ids and not volunteer.national_agent
    agent = Actor.for_user(users.get(username="kn-agent"))
    assert agent.national_agent
    coordinator = Actor.for_user(users.get(username="coord-lappi"))
    assert coordinator.coordinator_region_ids and not coordinator.is_supporter
    assert Actor.for_user(users.get(username="national-admin")).national_admin
    assert Actor.for_user(None) == Actor()


@pytest.mark.django_db
def test_a_supporters_actor_reads_grants_only_when_it_holds_some(
    reference_data, django_assert_num_queries
):
    """Every console socket builds one: two queries for a supporter without grants."""
    from helpdesk.models import Provider, Role, RoleGrant
    from tests.factories import make_provider, make_supporter

    provider, closed = make_provider(), make_provider()
    Provider.objects.filter(pk=closed.pk).update(active=False)
    supporter = make_supporter(providers=[provider, closed])
    user = type(supporter.user).objects.get(pk=supporter.user_id)
    with django_assert_num_queries(2):
        actor, row = Actor.for_user_and_supporter(user)
    # An inactive provider gives no rights; the row comes with the caller's user.
    assert (actor.supporter_id, actor.provider_ids, actor.has_role_grants) == (
        supporter.pk,
        {provider.pk},
        False,
    )
    assert row.user is user
    RoleGrant.objects.create(user=user, role=Role.PROVIDER_ADMIN, provider=provider)
    with django_assert_num_queries(3):
        actor, _ = Actor.for_user_and_supporter(user)
    assert (actor.admin_provider_ids, actor.has_role_grants) == ({provider.pk}, True)
