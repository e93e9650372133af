from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from helpdesk.demo import demo_password, load_demo_network


class Command(BaseCommand):
    help = "Load the demo network: providers, supporters, coordinators, workflows, articles."

    def add_arguments(self, parser):
        parser.add_argument("--always-open", action="store_true", help="Demo providers open 24/7.")
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")
        parser.add_argument("--no-articles", action="store_true")
        parser.add_argument("--force", action="store_true", help="Allow with DEBUG off.")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Demo logins share one password: refusing with DEBUG off (--force).")
        logins = load_demo_network(always_open=options["always_open"])
        try:
            from routing.workflows import ensure_default_workflows
        except ImportError:  # routing not installed in a trimmed deployment
            ensure_default_workflows = None
        if ensure_default_workflows:
            ensure_default_workflows()
        if not options["no_articles"]:
            try:
                from knowledge import content_dir
            except ImportError:
                content_dir = None
            if content_dir:
                call_command("import_articles", str(content_dir()), verbosity=0)
        if options["quiet"]:
            return
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {demo_password()})"))
        width = max(len(name) for name, _ in logins)
        for name, description in logins:
            self.stdout.write(f"  {name.ljust(width)}  {description}")
        if settings.TWO_FACTOR_EXEMPT_DEMO_USERS and settings.DEBUG:
            self.stdout.write(
                "Two-factor authentication: these demo logins are exempt (DEBUG and"
                " TWO_FACTOR_EXEMPT_DEMO_USERS); every other staff, coordinator and admin"
                " account enrols an authenticator app at its first sign-in."
            )
