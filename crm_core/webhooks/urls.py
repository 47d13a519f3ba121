"""Where webhooks may be sent: http(s) only, and (unless allowed) never to loopback, private,
link-local or reserved addresses, so a subscription cannot be used to probe the internal network
(SSRF). Checked when a subscription is saved and again before every request (DNS may change)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL may not receive webhooks; the message says why."""


def check_url(url: str, allow_private: bool = False, resolve: bool = True) -> None:
    """Raise ``UnsafeURL`` unless ``url`` is an http(s) URL to a public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs can receive webhooks.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Put credentials in the receiver's signature check, not in the URL.")
    if allow_private:
        return
    try:
        addresses = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            raise UnsafeURL(f"The host {parts.hostname!r} does not resolve.") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeURL(f"The host {parts.hostname!r} is on a private or reserved network ({address}).")
