"""Secrets recognised by their shape, wherever they appear in text.

The families (after gitleaks' and detect-secrets' rules): cloud and SaaS tokens with a known
prefix (AWS ``AKIA…``, GitHub ``ghp_…``/``github_pat_…``, GitLab ``glpat-…``, Slack ``xox?-…``
and webhooks, Stripe ``sk_live_…``/``rk_live_…``/``whsec_…``, Google ``AIza…``/``ya29.…``/
``GOCSPX-…``, OpenAI/Anthropic ``sk-…``, npm, PyPI, SendGrid, Twilio, Shopify, DigitalOcean,
Hugging Face, Databricks, Mailgun, Telegram, Square), JSON Web Tokens, ``Bearer``/``Basic``
credentials, PEM private-key blocks (also cut short), the password of ``scheme://user:pass@host``
read as a person writes it (a ``/`` or ``@`` inside the password included), and payment card
numbers that pass the Luhn check and a card brand's prefix and length (spaces or dashes allowed).

Not covered: a random secret with no known prefix under an innocent key or in prose (an AWS
*secret* access key on its own, a password passed positionally); the key rules catch those only
when a sensitive key name is next to them.

Cost: ``may_hold_secret`` is a screen of a few C-level passes over the text; only a text that
passes it (a run of 16+ letters, digits, ``_`` or ``-``; 13+ digits; ``://``; a PEM header …) is
scanned by the full expression.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

__all__ = ["is_card_number", "may_hold_secret", "redact_secret_values", "redact_url_userinfo"]

_B = r"(?<![A-Za-z0-9])"  # a token starts at a word boundary
_TOKENS = "|".join(
    (
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        r"gh[pousr]_[A-Za-z0-9]{36,255}",
        r"github_pat_[A-Za-z0-9_]{22,255}",
        r"gl(?:pat|ptt|dt|rt|cbt|soat|ft|imt|oas)-[A-Za-z0-9_-]{20,}",
        r"xox[abposre]-[A-Za-z0-9-]{10,}",
        r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
        r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}",
        r"whsec_[A-Za-z0-9+/=]{20,}",
        r"AIza[A-Za-z0-9_-]{35}",
        r"ya29\.[A-Za-z0-9_-]{20,}",
        r"GOCSPX-[A-Za-z0-9_-]{20,}",
        r"sk-(?:proj-|ant-[a-z]+\d*-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        r"npm_[A-Za-z0-9]{36}",
        r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
        r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])",
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        r"do[opr]_v1_[a-f0-9]{64}",
        r"hf_[A-Za-z0-9]{34,}",
        r"dapi[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9])",
        r"key-[0-9a-zA-Z]{32}(?![A-Za-z0-9])",
        r"\d{8,10}:AA[0-9A-Za-z_-]{33}",
        r"sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}",
        r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    )
)
_PRIVATE_KEY = (
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?s:.*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|.*)"
)
# RFC 3986 keeps ``/`` and ``@`` out of userinfo, people do not: the password runs to the last
# ``@`` before the URL ends (whitespace, a quote, ``?`` or ``#``).
_URL_USERINFO = (
    r"(?P<url_head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}://(?P<url_user>[^\s:/?#@\"'<>]*):)"
    r"(?P<url_password>[^\s\"'<>?#]+)@"
)
_SCHEME_CREDENTIAL = r"(?P<scheme>(?i:bearer|basic)[ \t]+)(?P<credential>[A-Za-z0-9._~+/=-]{6,})"
_CARD = r"(?<![\w.,/+-])[2-6](?:[ -]?[0-9]){12,18}(?![\w/]|[.,-][0-9])"

_SCAN = re.compile(
    rf"(?P<pem>{_PRIVATE_KEY})|{_URL_USERINFO}|(?P<token>{_B}(?:{_TOKENS}))"
    rf"|{_B}{_SCHEME_CREDENTIAL}|(?P<card>{_CARD})"
)
_URL_ONLY = re.compile(_URL_USERINFO)
_PORT_THEN_PATH = re.compile(r"[0-9]{1,5}/").match

_WORD_CLASSES = bytes(
    ord("a") if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "_-") else ord(" ")
    for byte in range(256)
)
_LONG_RUN = b"a" * 16
_DIGITS = b"0123456789"


def may_hold_secret(text: str) -> bool:
    """Return whether ``text`` may hold a secret of a known shape (a cheap screen, no regex).

    False means no value pattern can match; true means ``redact_secret_values`` must look.
    Every token family has a run of 16+ letters, digits, ``_`` or ``-`` (prefix included); a
    card number has 13+ digits; the rest is found by a substring.
    """
    if "://" in text:
        return True
    if len(text) < 13:
        return False
    raw = text.encode("utf-8", "surrogatepass")
    if _LONG_RUN in raw.translate(_WORD_CLASSES):
        return True
    if len(raw) - len(raw.translate(None, _DIGITS)) >= 13 or "PRIVATE KEY" in text:
        return True
    lower = text.lower()
    return "bearer" in lower or "basic" in lower


def redact_secret_values(text: str, replacement: str) -> str:
    """Return ``text`` with every secret of a known shape replaced by ``replacement``."""
    return _SCAN.sub(_replacer(replacement), text)


def redact_url_userinfo(text: str, replacement: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:password@`` replaced.

    The user name stays (it helps to debug access); the password is everything from the first
    ``:`` after the user to the last ``@`` of the URL, so ``redis://:pa/ss@host`` and
    ``postgres://app:Sup3r@Secret@db`` lose all of it.
    """
    return _URL_ONLY.sub(_replacer(replacement), text)


def _replacer(replacement: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "card":
            return replacement if is_card_number(match.group()) else match.group()
        if match.group("url_head") is not None:
            if _is_host_and_port(match.group("url_user"), match.group("url_password")):
                return match.group()
            return f"{match.group('url_head')}{replacement}@"
        if match.group("credential") is not None:
            scheme, credential = match.group("scheme"), match.group("credential")
            if not _looks_random(credential) or (
                scheme[:5].lower() == "basic" and not _is_basic_credential(credential)
            ):
                return match.group()
            return scheme + replacement
        return replacement

    return replace


def _is_host_and_port(user: str, password: str) -> bool:
    # ``https://example.com:8443/users/@alice`` is a host, a port and a path with an ``@``.
    return "." in user and _PORT_THEN_PATH(password) is not None


def _looks_random(text: str) -> bool:
    # "bearer tokens expire" is prose; a credential has digits or symbols, or is long.
    return len(text) >= 20 or not text.isalpha()


def _is_basic_credential(text: str) -> bool:
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


_CARD_BRANDS: tuple[tuple[tuple[str, ...], frozenset[int]], ...] = (
    (("4",), frozenset({13, 16, 19})),  # Visa
    (("51", "52", "53", "54", "55"), frozenset({16})),  # Mastercard
    (tuple(str(n) for n in range(2221, 2721)), frozenset({16})),  # Mastercard 2-series
    (("34", "37"), frozenset({15})),  # American Express
    (("6011", "65", "644", "645", "646", "647", "648", "649"), frozenset(range(16, 20))),
    (tuple(str(n) for n in range(3528, 3590)), frozenset(range(16, 20))),  # JCB
    (("300", "301", "302", "303", "304", "305", "36", "38", "39"), frozenset(range(14, 20))),
    (("62",), frozenset(range(16, 20))),  # UnionPay
)


def is_card_number(text: str) -> bool:
    """Return whether ``text`` (digits, spaces, dashes) is a payment card number (brand + Luhn)."""
    digits = text.replace(" ", "").replace("-", "")
    if not any(
        len(digits) in lengths and digits.startswith(prefixes) for prefixes, lengths in _CARD_BRANDS
    ):
        return False
    return _luhn_valid(digits)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
