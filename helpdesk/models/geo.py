"""Regions (maakunta), municipalities and the library development areas.

Loaded from helpdesk/data/*.csv (Statistics Finland's 2026 classification) by
`manage.py load_reference_data`; see helpdesk/data/SOURCES.md.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .i18n import LocalizedNameMixin


class DevelopmentArea(LocalizedNameMixin, models.Model):
    """One of the nine library development areas, the overflow unit between regions."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name_fi = models.CharField(_("name (Finnish)"), max_length=100)
    name_sv = models.CharField(_("name (Swedish)"), max_length=100, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    library = models.CharField(_("responsible library"), max_length=200)

    class Meta:
        verbose_name = _("library development area")
        verbose_name_plural = _("library development areas")
        ordering = ["code"]


class Region(LocalizedNameMixin, models.Model):
    code = models.CharField(_("code"), max_length=2, unique=True)
    name_fi = models.CharField(_("name (Finnish)"), max_length=100)
    name_sv = models.CharField(_("name (Swedish)"), max_length=100)
    development_area = models.ForeignKey(
        DevelopmentArea,
        verbose_name=_("library development area"),
        related_name="regions",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("Empty for Åland, which is outside the development areas."),
    )

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]


class Municipality(LocalizedNameMixin, models.Model):
    code = models.CharField(_("code"), max_length=3, unique=True)
    name_fi = models.CharField(_("name (Finnish)"), max_length=100)
    name_sv = models.CharField(_("name (Swedish)"), max_length=100)
    region = models.ForeignKey(
        Region, verbose_name=_("region"), related_name="municipalities", on_delete=models.PROTECT
    )
    population = models.PositiveIntegerField(_("population"), default=0)
    population_year = models.PositiveSmallIntegerField(_("population year"), null=True)

    class Meta:
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")
        ordering = ["name_fi"]


class PostalCode(models.Model):
    code = models.CharField(_("postal code"), max_length=5, unique=True)
    municipality = models.ForeignKey(
        Municipality,
        verbose_name=_("municipality"),
        related_name="postal_codes",
        on_delete=models.CASCADE,
    )

    class Meta:
        verbose_name = _("postal code")
        verbose_name_plural = _("postal codes")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
