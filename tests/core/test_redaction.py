"""Redaction: secrets under sensitive keys and secret-looking values never survive."""

from __future__ import annotations

import copy
import dataclasses
import re
import uuid
from typing import Any, cast

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from moose_trace.logging.redaction import REDACTED, Redactor, redact_text, redact_value

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def _process(event: dict[str, Any], redactor: Redactor | None = None) -> dict[str, Any]:
    result = (redactor or Redactor())(None, "info", event)
    assert isinstance(result, dict)
    return cast(dict[str, Any], result)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "client_secret",
        "token",
        "access_token",
        "accessToken",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "apikey",
        "Authorization",
        "proxy-authorization",
        "cookie",
        "Set-Cookie",
        "private_key",
        "aws_secret_access_key",
        "credentials",
    ],
)
def test_sensitive_keys_in_any_spelling(key: str) -> None:
    assert _process({"event": "login", key: "s3cr3t-value"})[key] == REDACTED


@pytest.mark.parametrize(
    "key", ["max_tokens", "author", "auth", "principal", "key", "kafka_key", "name", "secretary"]
)
def test_ordinary_keys_are_left_alone(key: str) -> None:
    assert _process({key: "visible"})[key] == "visible"


def test_nested_dicts_lists_and_header_pairs_are_redacted_without_touching_the_input() -> None:
    event: dict[str, Any] = {
        "event": "request",
        "config": {"db": {"host": "db", "password": "hunter2"}, "tags": ["a", "b"]},
        "items": [{"apiKey": "k1"}, {"value": 1}],
        "asgi_headers": [(b"authorization", b"Bearer abc.def.ghi"), (b"host", b"example.com")],
        "kafka_headers": [("trace_id", b"0193f0c2"), ("x-auth-token", b"t0k3n")],
    }
    original = copy.deepcopy(event)
    result = _process(event)
    assert result["config"] == {"db": {"host": "db", "password": REDACTED}, "tags": ["a", "b"]}
    assert result["items"] == [{"apiKey": REDACTED}, {"value": 1}]
    assert result["asgi_headers"] == [(b"authorization", REDACTED), (b"host", b"example.com")]
    assert result["kafka_headers"] == [("trace_id", b"0193f0c2"), ("x-auth-token", REDACTED)]
    assert event["config"] is not original["config"]  # the event dict itself is updated ...
    assert original["config"]["db"]["password"] == "hunter2"  # ... the user's objects are not
    untouched = {"db": {"password": "x"}}
    _process({"settings": untouched})
    assert untouched == {"db": {"password": "x"}}


def test_empty_values_stay_visible() -> None:
    assert _process({"password": None, "token": ""}) == {"password": None, "token": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"got token {JWT} from client", f"got token {REDACTED} from client"),
        ("Authorization: Bearer abcdef123456", f"Authorization: {REDACTED}"),
        ("sent bearer abcdef123456 upstream", f"sent bearer {REDACTED} upstream"),
        ("postgres://app:s3cr3t@db:5432/main", f"postgres://app:{REDACTED}@db:5432/main"),
        ("clickhouse://default:pw@ch:8123 down", f"clickhouse://default:{REDACTED}@ch:8123 down"),
        (
            "host=db user=app password=hunter2 port=5432",
            f"host=db user=app password={REDACTED} port=5432",
        ),
        ("Error: password: hunter2", f"Error: password: {REDACTED}"),
        ('{"api_key": "k-123", "name": "x"}', f'{{"api_key": {REDACTED}, "name": "x"}}'),
        ("https://x.io/cb?token=abc&page=2", f"https://x.io/cb?token={REDACTED}&page=2"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: {REDACTED}"),
    ],
)
def test_secret_looking_values_in_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert _process({"event": text})["event"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "processed 5 records from topic Foo",
        "GET https://api.example.com/data?id=5 -> 200",
        "max_tokens: 512, author: bob",
        "2026-01-09T10:30:00.123456Z",
        "bearer of bad news",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact_text(text) is text


@dataclasses.dataclass
class Settings:
    host: str
    password: str


class Opaque:
    def __str__(self) -> str:
        return "Opaque(url=postgres://u:pw@db/x)"


def test_objects_are_turned_into_redacted_data() -> None:
    result = _process(
        {"settings": Settings("db", "pw"), "thing": Opaque(), "raw": b"Bearer abcdefgh1"}
    )
    assert result["settings"] == {"host": "db", "password": REDACTED}
    assert result["thing"] == f"Opaque(url=postgres://u:{REDACTED}@db/x)"
    assert result["raw"] == f"Bearer {REDACTED}"


def test_configuration() -> None:
    custom = Redactor(
        extra_keys={"ssn"},
        allowed_keys={"token_count"},
        extra_patterns=[r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"],
        replacement="***",
    )
    event = {"ssn": "123", "token_count": 7, "token": "t", "event": "card 1234-5678-9012-3456"}
    assert _process(event, custom) == {
        "ssn": "***",
        "token_count": 7,
        "token": "***",
        "event": "card ***",
    }
    keys_only = Redactor(value_patterns=False)
    assert _process({"event": f"jwt {JWT}", "password": "x"}, keys_only) == {
        "event": f"jwt {JWT}",
        "password": REDACTED,
    }
    assert Redactor(keys=["pin"]).is_sensitive_key("user_pin")
    assert not Redactor(keys=["pin"]).is_sensitive_key("password")


def test_deep_and_self_referencing_structures_do_not_break_it() -> None:
    loop: list[Any] = []
    loop.append(loop)
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100):
        cursor["child"] = {}
        cursor = cursor["child"]
    cursor["password"] = "x"
    result = _process({"loop": loop, "deep": deep})
    assert "x'" not in str(result["deep"])
    assert isinstance(result["loop"], list)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
        | st.tuples(st.text(max_size=12), children)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_event_keeps_its_keys_and_the_callers_containers(event: dict[str, Any]) -> None:
    original = copy.deepcopy(event)
    result = _process(dict(event))
    assert list(result) == list(original)
    assert event == original  # nested containers are copied where redacted, never mutated


@given(json_values)
def test_a_secret_planted_anywhere_never_survives(value: Any) -> None:
    secret = "Zq9-planted-secret-Zq9"
    result = redact_value({"payload": value, "nested": [{"password": secret}], "token": secret})
    assert secret not in repr(result)


@given(st.text(), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8))
def test_planted_credentials_in_text_never_survive(noise: str, tail: str) -> None:
    secret = f"Zq9{tail}"  # cannot be a word of the text around it
    assume(secret not in noise)
    for text in (
        f"{noise} Bearer {secret} {noise}",
        f"{noise} postgres://user:{secret}@host/db {noise}",
        f"{noise} password={secret} {noise}",
    ):
        assert secret not in redact_text(text).replace(noise, "")


@given(st.text())
def test_any_text_is_redacted_without_raising(text: str) -> None:
    result = redact_text(text)
    assert isinstance(result, str)
    assert not re.search(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.", result)


def test_trace_and_span_ids_pass_unchanged_and_memory_stays_bounded() -> None:
    redactor = Redactor()
    for _ in range(20_000):  # a busy service: a new trace id and span id on every event
        event = {"event": "processed", "trace_id": str(uuid.uuid4()), "span_id": f"{_:016x}"}
        assert _process(dict(event), redactor) == event
    assert len(redactor._texts) <= 1024  # ids are remembered apart, and only the newest
    secret = {"event": "login", "trace_id": str(uuid.uuid4()), "dsn": "postgres://u:pw@h/db"}
    assert _process(secret, redactor)["dsn"] == REDACTED
    pattern = Redactor(extra_patterns=[r"^0190[0-9a-f-]+$"])  # your own rule sees ids too
    assert _process({"trace_id": "0190a3f2-1d2b-7c3e-9f00-0123456789ab"}, pattern) == {
        "trace_id": REDACTED
    }


# -- the token families, card numbers, URL userinfo and look-alikes, property-tested -----------

_alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_token_families = st.sampled_from(
    [
        ("AKIA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16),
        ("ghp_", _alnum, 36),
        ("gho_", _alnum, 36),
        ("github_pat_", _alnum + "_", 82),
        ("glpat-", _alnum + "-_", 20),
        ("xoxb-", "0123456789-" + _alnum, 40),
        ("sk_live_", _alnum, 24),
        ("rk_live_", _alnum, 24),
        ("AIza", _alnum + "-_", 35),
        ("npm_", _alnum, 36),
        ("hf_", _alnum, 34),
        ("sk-proj-", _alnum + "-_", 48),
        ("GOCSPX-", _alnum + "-_", 28),
    ]
)
# Text around a secret that cannot glue onto it (a token needs a boundary before it).
_surroundings = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(
    lambda text: f"{text} "
)


@given(_token_families, st.data(), _surroundings, _surroundings)
def test_a_known_token_anywhere_in_text_never_survives(
    family: tuple[str, str, int], data: st.DataObject, before: str, after: str
) -> None:
    prefix, alphabet, size = family
    token = prefix + data.draw(st.text(alphabet=alphabet, min_size=size, max_size=size))
    text = f"{before}{token} {after}"
    assert token not in redact_text(text)
    assert token not in repr(redact_value({"harmless": token, "list": [text]}))


def _with_luhn_digit(body: str) -> str:
    for check in "0123456789":
        digits = body + check
        total = 0
        for index, char in enumerate(reversed(digits)):
            value = int(char)
            if index % 2:
                value = value * 2 - 9 if value > 4 else value * 2
            total += value
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@given(
    st.sampled_from([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16), ("62", 16)]),
    st.data(),
    st.sampled_from(["", " ", "-"]),
)
def test_card_numbers_that_pass_luhn_never_survive(
    brand: tuple[str, int], data: st.DataObject, separator: str
) -> None:
    prefix, length = brand
    body = prefix + data.draw(
        st.text(
            alphabet="0123456789",
            min_size=length - len(prefix) - 1,
            max_size=length - 1 - len(prefix),
        )
    )
    number = _with_luhn_digit(body)
    shown = separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    assert number not in redact_text(f"paid with {shown} today").replace(separator, "")
    assert redact_value({"card": shown, "n": number}) == {"card": REDACTED, "n": REDACTED}


@given(
    st.text(alphabet=_alnum + "._-", min_size=0, max_size=8),
    st.text(alphabet=_alnum + "/@:!$&*+,;=%-", min_size=1, max_size=20),
    st.sampled_from(["db:5432/main", "cache", "[::1]:6379", "host.example.com/x?y=1"]),
)
def test_url_passwords_with_slashes_and_at_signs_never_survive(
    user: str, password: str, rest: str
) -> None:
    assume(len(password) >= 4 and any(ch.isalnum() for ch in password))
    url = f"postgres://{user}:{password}@{rest}"
    redacted = redact_text(f"cannot connect to {url}")
    assert f":{password}@" not in redacted
    assert redacted.startswith(f"cannot connect to postgres://{user}:")
    assert redacted.endswith(f"@{rest}")


@given(
    st.uuids().map(str)
    | st.uuids().map(lambda value: value.hex)
    | st.text(alphabet="0123456789abcdef", min_size=16, max_size=64)
    | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16).map(lambda h: f"v1_{h}")
)
def test_ids_hashes_and_error_signatures_survive(value: str) -> None:
    assume(not value.isdigit())  # sixteen decimal digits may be a card number
    event = {"trace_id": value, "error_signature": value, "event": f"batch {value} done"}
    assert Redactor()(None, "info", dict(event)) == event


@pytest.mark.parametrize(
    "key",
    [
        "db_pass",
        "session_id",
        "sessionId",
        "SESSIONID",
        "adminPass",
        "client_secret",
        "secretKey",
        "x-api-key",
        "AccountKey",
        "aws_secret_access_key",
        "csrftoken",
        "refresh_token",
        "Proxy-Authorization",
        "connection_string",
        "private_key",
        "ssh_private_key",
    ],
)
def test_word_rules_find_sensitive_keys(key: str) -> None:
    assert Redactor().is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "key_id",
        "api_key_id",
        "keyspace",
        "kafka_key",
        "partition_key",
        "primary_key",
        "cache_key",
        "idempotency_key",
        "token_type",
        "max_tokens",
        "prompt_tokens",
        "token_count",
        "password_length",
        "secret_name",
        "session_count",
        "session_duration_ms",
        "passenger",
        "bypass_cache",
        "error_signature",
    ],
)
def test_word_rules_leave_keys_that_only_describe_a_secret(key: str) -> None:
    assert not Redactor().is_sensitive_key(key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login failed password=correct horse battery staple", f"login failed password={REDACTED}"),
        ("password=correct horse battery staple user=bob", f"password={REDACTED} user=bob"),
        ("redis://:pa/ss@cache:6379", f"redis://:{REDACTED}@cache:6379"),
        ("postgres://app:Sup3r@Secret@db/main", f"postgres://app:{REDACTED}@db/main"),
        ("see https://mastodon.example:8443/@alice", "see https://mastodon.example:8443/@alice"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", f"key {REDACTED} leaked"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED),
        ("cut -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", f"cut {REDACTED}"),
        ("Basic usage of the CLI", "Basic usage of the CLI"),
    ],
)
def test_values_by_shape(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_the_screen_is_certain_when_it_says_no() -> None:
    redactor = Redactor()
    assert not redactor.may_hold_secret("processed 5 records from topic Foo")
    assert redactor.may_hold_secret("token ghp_" + "a" * 36)
    assert redactor.may_hold_secret("password=x")


@given(st.text(max_size=200))
def test_the_screen_never_hides_a_change(text: str) -> None:
    redactor = Redactor()
    if not redactor.may_hold_secret(text):
        assert redactor.redact_text(text) is text
