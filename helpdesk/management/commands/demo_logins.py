"""Print the demo network's logins (scripts/serve.sh prints them last)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from helpdesk.demo import demo_password, demo_usernames
from helpdesk.models import RoleGrant, Supporter


class Command(BaseCommand):
    help = "Print the demo logins that exist in the database, with their roles."

    def handle(self, *args, **options):
        users = get_user_model().objects.filter(username__in=demo_usernames()).order_by("pk")
        rows = []
        for user in users:
            rows.append((user.username, _describe(user)))
        if not rows:
            self.stdout.write("No demo logins: run manage.py load_demo_network first.")
            return
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {demo_password()})"))
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            self.stdout.write(f"  {name.ljust(width)}  {description}")
        if settings.DEBUG and settings.TWO_FACTOR_EXEMPT_DEMO_USERS:
            self.stdout.write(
                "Two-factor sign-in: these demo logins are exempt (DEBUG and"
                " TWO_FACTOR_EXEMPT_DEMO_USERS); every other staff, coordinator and admin"
                " account enrols an authenticator app at its first sign-in."
            )


def _describe(user) -> str:
    if user.is_superuser:
        return "superuser (Django admin)"
    supporter = Supporter.objects.filter(user=user).prefetch_related("providers").first()
    if supporter is not None:
        providers = ", ".join(p.name for p in supporter.providers.all())
        national = any(p.is_national for p in supporter.providers.all())
        role = "Kansalaisneuvonta" if national else supporter.kind
        return f"{role} supporter, {providers}"
    grant = RoleGrant.objects.filter(user=user).select_related("provider", "region").first()
    if grant is None:
        return "no role"
    if grant.provider_id:
        return f"provider admin, {grant.provider.name}"
    if grant.region_id:
        return f"regional coordinator, {grant.region.name_fi}"
    return "national admin"
