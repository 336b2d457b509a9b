"""The database interface's own rules, without a server: passwords never
shown, one SQL mapped to each engine."""

from __future__ import annotations

import pytest

from feeder.storage.db import _postgres_sql, _sqlite_sql, describe_database_error, is_postgres_url, redact_url
from feeder.storage.schema import postgres_ddl, upsert

pytestmark = pytest.mark.no_state


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://feeder:s3cret@db.internal:5432/news", "postgresql://feeder:***@db.internal:5432/news"),
    ("postgresql://feeder@db.internal/news", "postgresql://feeder@db.internal/news"),
    ("postgres://db/news?password=s3cret&sslmode=require", "postgres://db/news?password=***&sslmode=require"),
    ("postgresql://u:p%40ss@h/d?options=-csearch_path%3Dx", "postgresql://u:***@h/d?options=-csearch_path=x"),
])
def test_urls_are_shown_without_their_password(url, shown):
    assert redact_url(url) == shown
    assert is_postgres_url(url)


def test_driver_messages_lose_the_password_and_say_what_to_do():
    url = "postgresql://feeder:s3cret@db.internal/news"
    text = describe_database_error(RuntimeError('connection failed: password authentication failed for user '
                                                '"feeder" (s3cret)'), url)
    assert "s3cret" not in text and "check the user and password" in text
    assert "is PostgreSQL running" in describe_database_error(OSError("Connection refused"), url)


def test_one_sql_for_both_engines():
    sql = "SELECT a FROM files f INDEXED BY files_media_url WHERE x = ? AND y LIKE 'a%' FOR UPDATE SKIP LOCKED"
    assert _postgres_sql(sql) == "SELECT a FROM files f WHERE x = %s AND y LIKE 'a%%' FOR UPDATE SKIP LOCKED"
    assert _sqlite_sql(sql) == "SELECT a FROM files f INDEXED BY files_media_url WHERE x = ? AND y LIKE 'a%'"
    assert upsert("meta", ("key", "value"), ("key",)) == (
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    ddl = postgres_ddl("CREATE TABLE t (n INTEGER, r REAL, b BLOB, t TEXT -- TEXT in a comment\n)")
    assert ddl == 'CREATE TABLE t (n BIGINT, r DOUBLE PRECISION, b BYTEA, t TEXT COLLATE "C" -- TEXT in a comment\n)'
