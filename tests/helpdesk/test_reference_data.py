"""The reference data in the database matches the shipped data exactly."""

import csv
import hashlib
from pathlib import Path

import pytest

from helpdesk.models import DevelopmentArea, Municipality, PostalCode, Region, Topic
from helpdesk.reference import DATA_DIR, DEVELOPMENT_AREAS, TOPICS, load_reference_data

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
# SHA-256 of the shared reference data the project copied (helpdesk/data/SOURCES.md).
# A fresh clone has no shared folder beside it; the digests check the copy there.
SHARED_SHA256 = {
    "municipalities.csv": "be0c4a7224b0b1e9240fe0ffa9978e36695b5c55f18fefc576a553301608f030",
    "postal_codes.csv": "d4c53184ae6ccccefed78fa87874e629e1b4b5296bdde91092feacdf1009bf2f",
    "regions.csv": "98574e00edcc44e535e9bbd97208682c52446116e59c57f363ad78ed87f3134a",
}


def rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", ["municipalities.csv", "regions.csv", "postal_codes.csv"])
def test_project_copy_equals_the_shared_reference_data(name):
    copy = (DATA_DIR / name).read_bytes()
    assert hashlib.sha256(copy).hexdigest() == SHARED_SHA256[name]
    if SHARED.is_dir():  # beside the checkout on the project's machines: compare too
        assert copy == (SHARED / name).read_bytes()


@pytest.mark.django_db
def test_database_matches_the_data_files_exactly():
    load_reference_data(postal_codes=True)
    expected_regions = {
        r["code"]: (r["name_fi"], r["name_sv"]) for r in rows(DATA_DIR / "regions.csv")
    }
    assert {r.code: (r.name_fi, r.name_sv) for r in Region.objects.all()} == expected_regions
    assert len(expected_regions) == 19

    expected = {
        m["code"]: (m["name_fi"], m["name_sv"], m["region_code"], int(m["population"]))
        for m in rows(DATA_DIR / "municipalities.csv")
    }
    actual = {
        m.code: (m.name_fi, m.name_sv, m.region.code, m.population)
        for m in Municipality.objects.select_related("region")
    }
    assert actual == expected
    assert len(actual) == 308

    postal = {p["postal_code"]: p["municipality_code"] for p in rows(DATA_DIR / "postal_codes.csv")}
    assert dict(PostalCode.objects.values_list("code", "municipality__code")) == postal


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    first = load_reference_data(postal_codes=False)
    second = load_reference_data(postal_codes=False)
    assert first == second
    assert Municipality.objects.count() == 308


@pytest.mark.django_db
def test_development_areas_cover_every_mainland_region_once():
    load_reference_data(postal_codes=False)
    assert DevelopmentArea.objects.count() == 9
    covered = [code for *_, regions in DEVELOPMENT_AREAS for code in regions]
    assert len(covered) == len(set(covered)) == 18
    assert Region.objects.get(code="21").development_area is None  # Åland
    assert Region.objects.get(code="12").development_area.code == "joensuu"
    assert Region.objects.get(code="10").development_area.code == "kuopio"


@pytest.mark.django_db
def test_topic_taxonomy_has_two_levels_in_three_languages():
    load_reference_data(postal_codes=False)
    categories = Topic.objects.filter(parent=None)
    assert {c.slug for c in categories} == {slug for slug, *_ in TOPICS}
    for topic in Topic.objects.all():
        assert topic.name_fi and topic.name_sv and topic.name_en
        if topic.parent:
            assert topic.parent.parent is None
    for required in [
        "suomifi-identification",
        "kela",
        "omavero",
        "omakanta-health",
        "banking",
        "smartphone",
        "security-scams",
        "video-calls",
        "employment",
        "dvv",
    ]:
        assert Topic.objects.filter(slug=required).exclude(parent=None).exists()
