"""Knowledge base and method bank: articles, search, suggestions, self-help pages."""

from pathlib import Path


def content_dir() -> Path:
    """The seed articles shipped with the project (import with `import_articles`)."""
    return Path(__file__).resolve().parent / "content"
