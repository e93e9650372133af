"""PostgreSQL-only search indexes: the tsvector GIN index and a pg_trgm GIN index.

SQLite (the embedded default) has neither; knowledge/search.py scans there.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [
    (
        "knowledge_tr_search_gin",
        "CREATE INDEX IF NOT EXISTS knowledge_tr_search_gin "
        "ON knowledge_articletranslation USING gin (search_vector)",
    ),
    (
        "knowledge_tr_trgm_gin",
        "CREATE INDEX IF NOT EXISTS knowledge_tr_trgm_gin "
        "ON knowledge_articletranslation USING gin (search_document gin_trgm_ops)",
    ),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _name, sql in INDEXES:
        schema_editor.execute(sql)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _sql in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
