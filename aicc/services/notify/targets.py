"""Where a tenant may point a channel. A channel's URL is chosen by a tenant and fetched by the
server, so it is hostile: http(s) only, no credentials in it, never a link-local address
(169.254.0.0/16, fe80::/10: the clouds' instance metadata) nor a metadata host name, and no
loopback or private address (the server's own port, the database, the registry, the center's
network) unless the operator lists that host in `notify.private_hosts` (a receiver of the
center's own). Checked when a channel is saved (a literal address) and again before each send
(what the name resolves to then), so a name that later points inside is refused too."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from aicc.services.common import Invalid

MAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.?[A-Za-z0-9-]*$")
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.azure.internal"})
METADATA_V6 = ipaddress.ip_network("fd00:ec2::/32")  # EC2's IPv6 instance metadata


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as an IP (an IPv4-mapped IPv6 one as IPv4), or None for a name."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def forbidden_address(address: str) -> bool:
    """Whether an IP address is one a channel may never reach (link-local, metadata)."""
    ip = _ip(address)
    return ip is not None and (ip.is_link_local or (ip.version == 6 and ip in METADATA_V6))


def inside(address: str) -> bool:
    """Whether an IP address is loopback, private or otherwise not on the internet."""
    ip = _ip(address)
    return ip is not None and not ip.is_global


def check_url(url: str, private_hosts: Collection[str] = ()) -> str:
    """The URL as given, or Invalid saying what to fix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("target: {url!r} is not an http(s) URL", url=url)
    if parts.username or parts.password:
        raise Invalid("target: put no user or password in the URL; use the channel's secret")
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS or forbidden_address(host):
        raise Invalid(
            "target: {host} is a link-local or metadata address, which channels may not reach",
            host=host,
        )
    if inside(host) and host not in private_hosts:
        raise Invalid(
            "target: {host} is a loopback or private address; an operator lets channels reach "
            "such a host by listing it in notify.private_hosts",
            host=host,
        )
    return url


def check_mail(address: str) -> str:
    if not MAIL.match(address):
        raise Invalid(
            "target: {address!r} is not a mail address (name@example.com)", address=address
        )
    return address


def resolved_safely(url: str, private_hosts: Collection[str] = ()) -> str | None:
    """Before a send: why the URL's host may not be reached now (it resolves to a forbidden
    address, or to a private one not listed), or None. Blocks on DNS: never in a transaction."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    port = urlsplit(url).port or 443
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as err:
        return f"cannot resolve {host}: {err}"
    for info in infos:
        if forbidden_address(str(info[4][0])):
            return f"{host} resolves to {info[4][0]}, a link-local or metadata address"
        if inside(str(info[4][0])) and host not in private_hosts:
            return f"{host} resolves to {info[4][0]}, a private address not in notify.private_hosts"
    return None
