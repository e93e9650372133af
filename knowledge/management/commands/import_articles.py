"""Import article Markdown files (one per article and language); safe to run again."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from helpdesk.services.errors import ServiceError
from knowledge import markdown_io, services


class Command(BaseCommand):
    help = "Import knowledge-base articles from Markdown files with front matter."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)

    def handle(self, *args, directory: Path, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        failures = []
        for path in sorted(directory.rglob("*.md")):
            if path.name.upper() == "README.MD":
                continue
            try:
                result = services.article_file_import(item=markdown_io.read(path))
            except (markdown_io.ArticleFileError, ServiceError) as exc:
                failures.append(path.name)
                self.stderr.write(f"{path.name}: {getattr(exc, 'message', exc)}")
                continue
            counts[result.outcome] += 1
            if result.unknown_topics:
                self.stderr.write(
                    f"{path.name}: unknown topics left out: {', '.join(result.unknown_topics)}"
                )
        self.stdout.write(
            "import_articles created={created} updated={updated} unchanged={unchanged}".format(
                **counts
            )
            + f" failed={len(failures)}"
        )
        if failures:
            raise CommandError(f"{len(failures)} file(s) could not be imported")
