"""Knowledge-base access, answered by the one permission table (helpdesk/permissions.py).

Staff supporters and provider admins draft, every supporter may submit a good
practice, coordinators publish good practices and national admins publish
everything. Volunteers never publish.
"""

from helpdesk import permissions
from helpdesk.permissions import Action

__all__ = ["Action", "can", "is_supporter", "require"]


def _actor(user) -> permissions.Actor:
    return permissions.Actor.for_user(user)


def is_supporter(user) -> bool:
    """Anyone who may read supporter material: supporters and role holders."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    actor = _actor(user)
    return bool(
        actor.superuser
        or actor.is_supporter
        or actor.national_admin
        or actor.admin_provider_ids
        or actor.coordinator_region_ids
    )


def can(user, action: Action) -> bool:
    if user is None or not getattr(user, "is_active", True):
        return False
    return permissions.can(_actor(user), action)


def require(user, action: Action) -> None:
    """Raises NotAllowed; `user=None` (no one logged in) is never allowed."""
    permissions.require(_actor(user), action)
