"""ClickHouse URLs: every form parses, credentials come from the URL or the environment, and the
password never shows in str, repr or an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from moose_trace.store.clickhouse.url import parse_clickhouse_url, redact_url


def test_http_url_with_credentials_and_database() -> None:
    url = parse_clickhouse_url("clickhouse://bob:s3cr%40t@db.example:8124/logs")
    assert (url.kind, url.host, url.port, url.database, url.secure) == (
        "http",
        "db.example",
        8124,
        "logs",
        False,
    )
    assert (url.user, url.password) == ("bob", "s3cr@t")
    assert str(url) == "clickhouse://bob:***@db.example:8124/logs"
    assert "s3cr" not in repr(url)


@pytest.mark.parametrize(
    ("text", "port", "secure"),
    [
        ("clickhouse://h", 8123, False),
        ("clickhouses://h", 8443, True),
        ("https://h/db", 8443, True),
        ("http://h:9000", 9000, False),
        ("clickhouse://h?secure=true", 8443, True),
    ],
)
def test_default_ports_and_tls(text: str, port: int, secure: bool) -> None:
    url = parse_clickhouse_url(text, environ={})
    assert (url.port, url.secure, url.user, url.password) == (port, secure, "default", "")


def test_credentials_from_the_environment_when_the_url_has_none() -> None:
    env = {"MOOSE_TRACE_CLICKHOUSE_USER": "svc", "MOOSE_TRACE_CLICKHOUSE_PASSWORD": "from-env"}
    url = parse_clickhouse_url("clickhouse://db.example/logs", environ=env)
    assert (url.user, url.password) == ("svc", "from-env")
    assert "from-env" not in str(url)
    assert "from-env" not in repr(url)
    explicit = parse_clickhouse_url("clickhouse://alice:pw@db.example/logs", environ=env)
    assert (explicit.user, explicit.password) == ("alice", "pw")


def test_chdb_urls(tmp_path: Path) -> None:
    assert parse_clickhouse_url(f"chdb://{tmp_path}/data").path == str(tmp_path / "data")
    assert parse_clickhouse_url("chdb://memory").path == ":memory:"
    assert parse_clickhouse_url(f"chdb://{tmp_path}?database=logs").database == "logs"


@pytest.mark.parametrize(
    "text",
    [
        "clickhouse://bob:hunter2@host:notaport/db",
        "mysql://bob:hunter2@host/db",
        "clickhouse://bob:hunter2@/db",
        "clickhouse://bob:hunter2@host/a/b",
    ],
)
def test_errors_name_the_problem_without_the_password(text: str) -> None:
    with pytest.raises(ValueError, match="ClickHouse URL") as raised:
        parse_clickhouse_url(text)
    assert "hunter2" not in str(raised.value)
    assert "bob:***@" in str(raised.value)


def test_redact_url_masks_credentials_anywhere_in_text() -> None:
    text = "failed: clickhouse://u:p4ss@h:8123/db and https://x:y@z/"
    assert redact_url(text) == "failed: clickhouse://u:***@h:8123/db and https://x:***@z/"


def test_file_key_names_one_destination_and_never_its_password() -> None:
    here = parse_clickhouse_url("clickhouse://bob:hunter2@h:8123/db")
    key = here.file_key("moose_logs")
    assert key.startswith("moose_logs-")
    assert "hunter2" not in key
    # the spool and ingest state of one destination never serve another
    assert parse_clickhouse_url("clickhouse://bob:other@h:8123/db").file_key("moose_logs") == key
    assert parse_clickhouse_url("clickhouse://bob:hunter2@h:8123/db2").file_key("moose_logs") != key
    assert parse_clickhouse_url("clickhouse://bob:hunter2@g:8123/db").file_key("moose_logs") != key
    assert here.file_key("other_logs") != here.file_key("moose_logs")


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("clickhouse://u:Sup/erSecret@host:1/db", "Sup/erSecret"),
        ("clickhouse://app:Sup3r@Secret@db:8123/logs", "Sup3r@Secret"),
        ("clickhouses://u:pass/b@cret@host/db", "pass/b@cret"),
        ("clickhouse://u:p%40ss%2Fw@host/db", "p@ss/w"),
    ],
)
def test_a_password_holding_slash_or_at_is_read_whole_and_never_shown(
    text: str, password: str
) -> None:
    url = parse_clickhouse_url(text)
    assert url.password == password
    assert url.host in {"host", "db"}
    for shown in (str(url), repr(url), url.file_key("t"), redact_url(f"at {text} down")):
        assert password not in shown
        assert password.split("/", maxsplit=1)[0].split("@", maxsplit=1)[0] not in shown


@pytest.mark.parametrize(
    "text", ["clickhouse://u:Sup/erSecret@host:notaport/db", "clickhouse://u:Sup/erSecret@/db"]
)
def test_errors_on_urls_with_odd_passwords_keep_them_secret(text: str) -> None:
    with pytest.raises(ValueError, match="ClickHouse URL") as raised:
        parse_clickhouse_url(text)
    assert "Sup" not in str(raised.value)


def test_a_chdb_url_with_credentials_is_refused_not_turned_into_a_directory(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="chDB URL takes no user or password") as raised:
        parse_clickhouse_url(f"chdb://u:pw-secret@{tmp_path}/logs")
    assert "pw-secret" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []
