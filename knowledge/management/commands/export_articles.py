"""Export every article translation as a Markdown file with front matter."""

from pathlib import Path

from django.core.management.base import BaseCommand

from knowledge import markdown_io, selectors


class Command(BaseCommand):
    help = "Export knowledge-base articles to Markdown files (one per article and language)."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)

    def handle(self, *args, directory: Path, **options):
        directory.mkdir(parents=True, exist_ok=True)
        n = 0
        for item in selectors.article_files():
            (directory / item.filename).write_text(markdown_io.dumps(item), encoding="utf-8")
            n += 1
        self.stdout.write(f"export_articles files={n}")
