"""Helpers for models that carry names in fi/sv/en."""

from django.utils.translation import get_language


class LocalizedNameMixin:
    """Picks name_<lang> for the active language, falling back to Finnish."""

    def localized_name(self, language: str | None = None) -> str:
        lang = (language or get_language() or "fi")[:2]
        value = getattr(self, f"name_{lang}", "") or ""
        return value or self.name_fi

    def __str__(self) -> str:
        return self.localized_name()
