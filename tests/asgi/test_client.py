"""TrustedProxies: X-Forwarded-For is believed only from proxies the operator named."""

from __future__ import annotations

import pytest

from moose_trace.asgi import TrustedProxies


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    proxies = TrustedProxies()
    assert not proxies
    assert proxies.client_ip("198.51.100.9", "203.0.113.42") == "198.51.100.9"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_ip("198.51.100.9", "203.0.113.42") == "198.51.100.9"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.1"])
    # The client may prepend anything; only what trusted proxies appended counts.
    forwarded = "1.1.1.1, 203.0.113.42, 10.1.2.3"
    assert proxies.client_ip("192.0.2.1", forwarded) == "203.0.113.42"
    assert proxies.client_ip("10.9.9.9", "10.1.1.1, 10.2.2.2") == "10.1.1.1"  # all trusted


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("203.0.113.42:4711", "203.0.113.42"),
        ("2001:DB8::2", "2001:db8::2"),
        ("not-an-ip", "10.0.0.1"),
        ("203.0.113.42, <script>", "10.0.0.1"),
        ("", "10.0.0.1"),
    ],
)
def test_hops_are_parsed_and_junk_ends_the_walk(forwarded: str, expected: str) -> None:
    assert TrustedProxies(["10.0.0.0/8"]).client_ip("10.0.0.1", forwarded) == expected


def test_membership_and_unknown_peers() -> None:
    proxies = TrustedProxies("2001:db8::/32")
    assert "2001:db8::5" in proxies
    assert "10.0.0.1" not in proxies
    assert "unix-socket" not in proxies
    assert proxies.client_ip(None, "203.0.113.42") is None


def test_a_typo_in_the_trusted_list_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        TrustedProxies(["10.0.0.0/33"])
