"""Compile the fi/sv/en translation catalogs (.po → .mo) without GNU gettext.

Django's compilemessages needs msgfmt installed on the machine; Babel does the
same in pure Python, so setup works anywhere the project installs.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def locale_dirs() -> list[Path]:
    dirs = [Path(p) for p in settings.LOCALE_PATHS]
    for config in apps.get_app_configs():
        if not Path(config.path).is_relative_to(settings.BASE_DIR) or ".venv" in config.path:
            continue  # third-party catalogs ship compiled
        candidate = Path(config.path) / "locale"
        if candidate.is_dir() and candidate not in dirs:
            dirs.append(candidate)
    return [d for d in dirs if d.is_dir()]


def compile_catalog(po_path: Path) -> None:
    """po_path's .mo beside it; raises on an invalid entry."""
    with open(po_path, "rb") as handle:
        # Strict: an entry that lost its msgstr (a merge gone wrong) stops the
        # build instead of being dropped with a warning.
        catalog = read_po(handle, locale=po_path.parts[-3], abort_invalid=True)
    with open(po_path.with_suffix(".mo"), "wb") as handle:
        write_mo(handle, catalog, use_fuzzy=False)


class Command(BaseCommand):
    help = "Compile translation catalogs with Babel."

    def handle(self, *args, **options):
        count = 0
        for directory in locale_dirs():
            for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
                try:
                    compile_catalog(po_path)
                except Exception as exc:
                    raise CommandError(f"{po_path}: {exc}") from exc
                count += 1
        self.stdout.write(f"compiled {count} catalogs")
