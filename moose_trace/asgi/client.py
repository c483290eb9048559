"""Who is calling: the client address, with ``X-Forwarded-For`` believed only from trusted proxies.

A client can put anything in ``X-Forwarded-For``, so by default the address is the direct peer
(the ASGI scope's ``client``). Behind a load balancer, name it in ``trusted_proxies``: when the
peer is trusted, the header is read from the right, skipping trusted hops, and the first address
that is not a trusted proxy is the client. Entries that are not IP addresses end the walk.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_CACHED = 4096
_MAX_HOPS = 32


def _address(text: str) -> str | None:
    """Return the canonical text of an IP address (``[::1]:80`` and ``1.2.3.4:80`` too)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class TrustedProxies:
    """A set of trusted proxy addresses and networks, and the client address they vouch for.

    ``TrustedProxies(["10.0.0.0/8", "127.0.0.1"])``: single addresses or CIDR networks, IPv4 or
    IPv6. An entry that is neither raises ``ValueError`` (a typo would silently trust nobody).
    """

    __slots__ = ("_networks", "_verdicts")

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        if isinstance(proxies, str):
            proxies = (proxies,)
        networks: list[_Network] = []
        for proxy in proxies:
            try:
                networks.append(ipaddress.ip_network(str(proxy).strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted proxy {proxy!r} is not an IP address or network "
                    "(e.g. '10.0.0.1' or '10.0.0.0/8')"
                ) from None
        self._networks = tuple(networks)
        self._verdicts: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"TrustedProxies({[str(network) for network in self._networks]!r})"

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, host: object) -> bool:
        """Return whether ``host`` (an address as text) is a trusted proxy."""
        if not isinstance(host, str):
            return False
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._check(host)
            if len(self._verdicts) >= _MAX_CACHED:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def _check(self, host: str) -> bool:
        address = _address(host)
        if address is None:
            return False
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self._networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """Return the client's address given the direct peer and the ``X-Forwarded-For`` value.

        The peer itself unless it is a trusted proxy sending the header; then the rightmost
        address in the header that is not a trusted proxy (or the leftmost, when all are).
        """
        if not forwarded_for or peer is None or peer not in self:
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")[-_MAX_HOPS:]):
            address = _address(hop)
            if address is None:
                return client
            client = address
            if address not in self:
                return client
        return client
