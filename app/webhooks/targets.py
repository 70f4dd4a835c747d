"""Where a webhook may point: http(s) only, and in production never at a private, loopback,
link-local or otherwise internal address — checked when the endpoint is saved and again, after
DNS resolution, before every delivery (an address can change). Redirects are not followed.
`WEBHOOK_ALLOW_PRIVATE=true` lifts the address rule for development and tests."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    pass


def check_url(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable URL; TargetRefused saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused("the URL's port is not a number from 1 to 65535") from exc
    return parts.hostname, port


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def check_addresses(url: str, *, allow_private: bool) -> None:
    """Resolve the URL's host and refuse it when any address is internal."""
    host, port = check_url(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"the host {host!r} does not resolve") from exc
    for info in infos:
        if _internal(str(info[4][0])):
            raise TargetRefused(f"the host {host!r} resolves to an internal address")
