"""Database connections of long-lived worker threads (chat pools, routing ticker).

These threads live as long as the worker process and keep one connection
each: no connect (or pool checkout) per frame or per routing round. A
connection broken by a database restart is dropped and replaced on the next
query; with persistent connections configured (CONN_MAX_AGE > 0) an old one
is recycled in time.
"""

from django.db import connection


def keep_usable_connection() -> None:
    if connection.connection is None:
        return
    if connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()
            return
    if connection.settings_dict.get("CONN_MAX_AGE"):
        connection.close_if_unusable_or_obsolete()
