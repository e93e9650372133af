from django.db import models
from django.utils.translation import gettext_lazy as _

from .i18n import LocalizedNameMixin


class Topic(LocalizedNameMixin, models.Model):
    """Two-level topic taxonomy: categories (parent is null) and their topics."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("category"),
        related_name="children",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    name_fi = models.CharField(_("name (Finnish)"), max_length=120)
    name_sv = models.CharField(_("name (Swedish)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["order", "slug"]

    @property
    def is_category(self) -> bool:
        return self.parent_id is None
