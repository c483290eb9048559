"""A corpus of realistic secrets (must never survive) and look-alikes (must survive unchanged).

Secrets are made from a fixed seed in the shapes the real issuers use (lengths, alphabets,
prefixes, checksums for card numbers), never copied from anywhere. ``python -m
tests.core.secret_corpus`` prints the leak and false-positive rates docs/security.md reports.
"""

from __future__ import annotations

import base64
import random
import string
import uuid
from dataclasses import dataclass

_rng = random.Random(13)
_ALNUM = string.ascii_letters + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
_HEX = "0123456789abcdef"
_URLSAFE = _ALNUM + "-_"


def _pick(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


@dataclass(frozen=True)
class Secret:
    family: str
    value: str
    """The secret itself: no part of it may reach the output."""
    key: str = "detail"
    """The key it is logged under (an innocent one unless the family is about keys)."""
    text: str = ""
    """How it appears inside text, when that differs from the value (URL, pair)."""


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + _pick(string.digits, length - len(prefix) - 1)
    for check in string.digits:
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


def _grouped(number: str, sep: str, groups: tuple[int, ...]) -> str:
    parts, start = [], 0
    for size in groups:
        parts.append(number[start : start + size])
        start += size
    return sep.join(parts)


def _jwt() -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(b'{"alg":"HS256","typ":"JWT"}')
    claims = part(f'{{"sub":"{_pick(string.digits, 8)}","exp":1767225600}}'.encode())
    return f"{header}.{claims}.{_pick(_URLSAFE, 43)}"


def _pem(kind: str, *, complete: bool = True) -> str:
    body = "\n".join(_pick(_ALNUM + "+/", 64) for _ in range(4))
    label = f"{kind} PRIVATE KEY".strip()
    head = f"-----BEGIN {label}-----\n{body}"
    return f"{head}\n-----END {label}-----\n" if complete else head


def _token_secrets() -> list[Secret]:
    made: list[tuple[str, str]] = []
    for prefix in ("AKIA", "AKIA", "AKIA", "ASIA", "AKIA", "ABIA"):
        made.append(("aws access key id", prefix + _pick(_UPPER_DIGITS, 16)))
    for prefix in ("ghp", "gho", "ghu", "ghs", "ghr", "ghp"):
        made.append(("github token", f"{prefix}_{_pick(_ALNUM, 36)}"))
    for _ in range(3):
        made.append(
            ("github fine-grained pat", f"github_pat_{_pick(_ALNUM, 22)}_{_pick(_ALNUM, 59)}")
        )
    for _ in range(3):
        made.append(("gitlab pat", f"glpat-{_pick(_URLSAFE, 20)}"))
    for kind in ("b", "p", "a", "r"):
        made.append(
            (
                "slack token",
                f"xox{kind}-{_pick(string.digits, 12)}-{_pick(string.digits, 13)}-"
                f"{_pick(_ALNUM, 24)}",
            )
        )
    made.append(
        (
            "slack webhook",
            f"https://hooks.slack.com/services/T{_pick(_UPPER_DIGITS, 8)}/"
            f"B{_pick(_UPPER_DIGITS, 10)}/{_pick(_ALNUM, 24)}",
        )
    )
    for prefix in ("sk_live", "sk_live", "rk_live", "sk_test"):
        made.append(("stripe key", f"{prefix}_{_pick(_ALNUM, 24)}"))
    made.append(("stripe webhook secret", f"whsec_{_pick(_ALNUM, 32)}"))
    for _ in range(4):
        made.append(("google api key", f"AIza{_pick(_URLSAFE, 35)}"))
    made.append(("google oauth token", f"ya29.{_pick(_URLSAFE, 60)}"))
    made.append(("google oauth client secret", f"GOCSPX-{_pick(_URLSAFE, 28)}"))
    made.append(("openai key", f"sk-proj-{_pick(_URLSAFE, 48)}"))
    made.append(("openai key", f"sk-{_pick(_ALNUM, 20)}T3BlbkFJ{_pick(_ALNUM, 20)}"))
    made.append(("anthropic key", f"sk-ant-api03-{_pick(_URLSAFE, 93)}AA"))
    made.append(("npm token", f"npm_{_pick(_ALNUM, 36)}"))
    made.append(("pypi token", f"pypi-AgEIcHlwaS5vcmc{_pick(_URLSAFE, 60)}"))
    made.append(("sendgrid key", f"SG.{_pick(_URLSAFE, 22)}.{_pick(_URLSAFE, 43)}"))
    made.append(("twilio api key", f"SK{_pick(_HEX, 32)}"))
    made.append(("shopify token", f"shpat_{_pick(_HEX, 32)}"))
    made.append(("digitalocean token", f"dop_v1_{_pick(_HEX, 64)}"))
    made.append(("hugging face token", f"hf_{_pick(string.ascii_letters, 34)}"))
    made.append(("databricks token", f"dapi{_pick(_HEX, 32)}"))
    made.append(("mailgun key", f"key-{_pick(_HEX, 32)}"))
    made.append(("telegram bot token", f"{_pick(string.digits, 10)}:AA{_pick(_URLSAFE, 33)}"))
    made.append(("square token", f"sq0atp-{_pick(_URLSAFE, 22)}"))
    made.append(("gitlab runner token", f"glrt-{_pick(_URLSAFE, 20)}"))
    made.append(
        (
            "slack app token",
            f"xapp-1-A{_pick(_UPPER_DIGITS, 10)}-{_pick(string.digits, 13)}-{_pick(_HEX, 64)}",
        )
    )
    made.append(("openai service account key", f"sk-svcacct-{_pick(_URLSAFE, 40)}"))
    for _ in range(4):
        made.append(("jwt", _jwt()))
    return [Secret(family, value) for family, value in made]


def _pem_secrets() -> list[Secret]:
    return [
        Secret("pem private key", _pem("RSA"), key="material"),
        Secret("pem private key", _pem(""), key="blob"),
        Secret("pem private key", _pem("EC"), key="cert_bundle"),
        Secret("pem private key", _pem("OPENSSH"), key="ssh"),
        Secret("pem private key", _pem("ENCRYPTED"), key="value"),
        Secret("pem private key (cut short)", _pem("RSA", complete=False), key="config"),
    ]


def _card_secrets() -> list[Secret]:
    cards = [
        ("4", 16, (4, 4, 4, 4)),
        ("4", 16, (4, 4, 4, 4)),
        ("4", 13, (4, 4, 5)),
        ("51", 16, (4, 4, 4, 4)),
        ("55", 16, (4, 4, 4, 4)),
        ("2221", 16, (4, 4, 4, 4)),
        ("34", 15, (4, 6, 5)),
        ("37", 15, (4, 6, 5)),
        ("6011", 16, (4, 4, 4, 4)),
        ("65", 16, (4, 4, 4, 4)),
        ("3530", 16, (4, 4, 4, 4)),
        ("36", 14, (4, 6, 4)),
        ("62", 16, (4, 4, 4, 4)),
    ]
    made: list[Secret] = []
    for index, (prefix, length, groups) in enumerate(cards):
        number = _luhn_complete(prefix, length)
        separator = ("", " ", "-")[index % 3]
        made.append(Secret("card number", _grouped(number, separator, groups)))
    made.append(Secret("card number", "4111 1111 1111 1111"))
    return made


def _key_secrets() -> list[Secret]:
    named = [
        ("db_pass", "hunter2-but-longer"),
        ("session_id", "s%3AJ8dk2mLq9xZ.Tz8"),
        ("password", "purple monkey dishwasher 42"),
        ("client_secret", "c0ffee-client-s3cret"),
        ("X-Api-Key", "k-7f3a9b2c"),
        ("accessToken", "opaque-access-token-value"),
        ("SESSIONID", "a8f5f167f44f4964e6c998dee827110c"),
        ("adminPass", "Tr0ub4dor&3"),
        ("aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("private_key", "not-a-pem-but-private"),
        ("Cookie", "sid=8f14e45fceea167a5a36dedd4bea2543"),
        ("refresh_token", "rt.Opaque.Refresh.Value"),
        ("passphrase", "my long pass phrase"),
        ("csrftoken", "Xq9lP0aZ"),
        ("AccountKey", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu=="),
    ]
    return [Secret("secret under a sensitive key", value, key=key) for key, value in named]


def _text_secrets() -> list[Secret]:
    made = [
        Secret("url password", "pa/ss", text="redis://:pa/ss@cache:6379/0"),
        Secret("url password", "Sup3r@Secret", text="postgres://app:Sup3r@Secret@db:5432/main"),
        Secret("url password", "Sup/erSecret", text="clickhouse://u:Sup/erSecret@host:1/db"),
        Secret("url password", "p%40ss%2Fword", text="mysql://root:p%40ss%2Fword@mysql/db"),
        Secret("url password", "guestpw", text="amqp://guest:guestpw@rabbit:5672/vhost"),
        Secret("url password", "x0-Pass", text="https://user:x0-Pass@api.example.com/v1?x=1"),
        Secret(
            "password pair",
            "correct horse battery staple",
            text="login failed password=correct horse battery staple",
        ),
        Secret("password pair", "s3cr3t!", text="connect host=db user=app password=s3cr3t! port=1"),
        Secret(
            "token pair", "tok-8d7f6a5e", text="https://x.io/cb?access_token=tok-8d7f6a5e&page=2"
        ),
        Secret("json pair", "jsonpw-77", text='{"user": "bob", "db_password": "jsonpw-77"}'),
        Secret("bearer", "abcDEF123456ghiJKL", text="Authorization: Bearer abcDEF123456ghiJKL"),
        Secret(
            "basic",
            base64.b64encode(b"admin:pa55word").decode(),
            text=f"sent Basic {base64.b64encode(b'admin:pa55word').decode()} upstream",
        ),
        Secret("env pair", "AbC123xyz", text="export API_KEY='AbC123xyz'"),
    ]
    return made


SECRETS: list[Secret] = [
    *_token_secrets(),
    *_pem_secrets(),
    *_card_secrets(),
    *_key_secrets(),
    *_text_secrets(),
]


def _lookalikes() -> list[tuple[str, str, str]]:
    """``(kind, key, value)`` that must come out exactly as they went in."""
    made: list[tuple[str, str, str]] = []
    for _ in range(8):
        made.append(("uuid", "request_id", str(uuid.UUID(int=_rng.getrandbits(128)))))
    for _ in range(8):
        value = uuid.UUID(int=_rng.getrandbits(128))
        made.append(("trace id (32 hex)", "trace_id", value.hex))
    for _ in range(8):
        made.append(("span id", "span_id", _pick(_HEX, 16)))
    for _ in range(8):
        made.append(("error signature", "error_signature", f"v1_{_pick(_HEX, 16)}"))
    for _ in range(6):
        made.append(("sha1 commit", "commit", _pick(_HEX, 40)))
    for _ in range(6):
        made.append(("sha256 digest", "digest", f"sha256:{_pick(_HEX, 64)}"))
    for _ in range(6):
        made.append(("epoch ns", "ts_ns", str(1_765_000_000_000_000_000 + _rng.getrandbits(40))))
    for _ in range(4):
        made.append(("epoch ms", "ts_ms", str(1_765_000_000_000 + _rng.getrandbits(30))))
    for _ in range(6):
        made.append(("kafka offset", "kafka_offset", str(_rng.getrandbits(40))))
    for _ in range(6):
        # a 16-digit order number that fails the Luhn check
        number = _luhn_complete("4", 16)
        bad = number[:-1] + str((int(number[-1]) + 5) % 10)
        made.append(("order number (not Luhn)", "order", bad))
    made += [
        ("luhn-valid, no card brand", "account", _luhn_complete("1", 16)),
        ("luhn-valid, no card brand", "account", _luhn_complete("9", 16)),
        ("isbn", "isbn", "978-3-16-148410-0"),
        ("iso timestamp", "timestamp", "2026-12-07T10:00:00.123456Z"),
        ("phone", "phone", "+1 555-123-4567"),
        ("ipv4", "client_ip", "192.168.100.200"),
        ("ipv6", "client_ip", "2001:db8:85a3::8a2e:370:7334"),
        ("url without credentials", "url", "https://api.example.com/v1/users?id=5&page=2"),
        ("url with user only", "url", "ssh://git@github.com/org/repo.git"),
        ("url with port and @ path", "url", "https://mastodon.example:8443/@alice"),
        ("email", "email", "bob.smith@example.com"),
        ("s3 object", "object", "s3://bucket/logs/2026/12/07/part-0001.json"),
        ("arn", "role", "arn:aws:iam::123456789012:role/app-writer"),
        ("stripe publishable key", "publishable", f"pk_live_{_pick(_ALNUM, 24)}"),
        ("prose about bearers", "event", "bearer of bad news"),
        ("prose about tokens", "event", "bearer tokens expire after one hour"),
        ("prose", "event", "Basic usage: moose-trace logs --errors"),
        ("mention of a key name", "event", "rotate the api key before Friday"),
        ("prose with password word", "event", "password reset email sent to user 42"),
        ("max tokens", "max_tokens", "4096"),
        ("token type", "token_type", "Bearer"),
        ("key id", "key_id", "kid-2026-12"),
        ("keyspace", "keyspace", "analytics"),
        ("kafka key", "kafka_key", "user-42"),
        ("partition key", "partition_key", "tenant-7"),
        ("primary key", "primary_key", "order_id"),
        ("session count", "session_count", "17"),
        ("passenger", "passenger", "Ada Lovelace"),
        ("author", "author", "Grace Hopper"),
        ("secretary", "secretary", "Joan Clarke"),
        ("prompt tokens", "prompt_tokens", "812"),
        ("docker image", "image", "ghcr.io/org/app:1.2.3"),
        ("pod name", "pod", "orders-api-7f9c8d6b5-x2k9q"),
        ("python path", "file", "/usr/lib/python3.12/site-packages/moose_trace/redaction.py"),
        ("sql", "query", "SELECT count() FROM moose_logs WHERE level = 'error'"),
        ("version", "version", "1.23.456-rc.7+build.20261207"),
        ("topic", "kafka_topic", "orders.v1.dead-letter"),
        ("word sk", "event", "scikit-learn (sk-learn) model loaded"),
        ("short akia", "event", "AKIA prefix means an access key"),
        ("latency", "latency_ms", "12.5"),
        ("status line", "event", "GET /api/v1/users/42 -> 200 in 12.5 ms"),
        (
            "base64 payload",
            "payload_b64",
            base64.b64encode(b"hello world, nothing secret").decode(),
        ),
        ("css color list", "colors", "#ff0000 #00ff00 #0000ff"),
        ("long word", "event", "internationalization_configuration_management_subsystem"),
        ("hex color", "color", "#a1b2c3"),
        ("date range", "range", "2026-12-01..2026-12-07"),
        ("money", "amount", "4,111.11 USD"),
        ("coordinates", "geo", "52.520008, 13.404954"),
        ("mac", "mac", "00:1A:2B:3C:4D:5E"),
        ("semver list", "deps", "structlog>=24.1, orjson>=3.9"),
        ("error message", "error_message", "KeyError: 'token_count'"),
        ("trace ids list", "trace_ids", "0193f0c2-7b3a-7c2e-9a1b-3c4d5e6f7a8b"),
    ]
    return made


LOOKALIKES = _lookalikes()


def measure() -> tuple[int, int, int, int]:
    """Return ``(leaked, secrets, changed, lookalikes)`` for the default redactor."""
    from tests.core.test_secret_corpus import false_positives, leaks  # noqa: PLC0415

    return len(leaks()), len(SECRETS), len(false_positives()), len(LOOKALIKES)


if __name__ == "__main__":
    leaked, total, changed, kept = measure()
    print(f"secrets leaked: {leaked}/{total} ({leaked / total:.1%})")
    print(f"look-alikes changed: {changed}/{kept} ({changed / kept:.1%})")
