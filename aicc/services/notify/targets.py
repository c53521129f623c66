"""Where a tenant may point a channel. A channel's URL is chosen by a tenant and fetched by the
server, so it is hostile: http(s) only, no credentials in it, never a link-local address
(169.254.0.0/16, fe80::/10: the clouds' instance metadata) nor a metadata host name, and no
loopback or private address (the server's own port, the database, the registry, the center's
network) unless the operator lists that host in `notify.private_hosts` (a receiver of the
center's own). Checked when a channel is saved (a literal address) and again before each send
(what the name resolves to then), so a name that later points inside is refused too.

Each send is `pinned`: the name is resolved once, every address it gave is checked, and the
connection goes to the first of those very addresses, the name kept only as the `Host` header
and TLS's server name. A second lookup (the HTTP client's own) would let a name that answers a
public address to the check and 127.0.0.1 to the connect reach the server's own ports (DNS
rebinding). Every outbound call to a URL a tenant chose goes through `pinned`."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
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


Resolver = Callable[[str, int], list[str]]
"""A host and port to the addresses it resolves to (`system_resolve`; a test gives its own)."""


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class Refused(Exception):
    """Why a URL's host may not be reached now (a person reads it)."""


@dataclass(frozen=True)
class Pin:
    """A URL with the address that was checked in place of its host: connect to `url`, send
    `headers` (`Host`) and `extensions` (TLS's server name and certificate check: the name)."""

    url: str
    host: str
    address: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned(
    url: str, private_hosts: Collection[str] = (), resolve: Resolver = system_resolve
) -> Pin:
    """Resolve the URL's host once and check every address it gave (a forbidden one, or a
    private one whose host is not listed, is `Refused`); the URL pinned to the first. Blocks on
    DNS: never in a transaction."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        raise Refused(f"{url!r} names no host")
    try:
        addresses = [host] if _ip(host) is not None else resolve(host, port)
    except OSError as err:
        raise Refused(f"cannot resolve {host}: {err.strerror or err}") from None
    if not addresses:
        raise Refused(f"cannot resolve {host}: no address")
    for address in addresses:
        if forbidden_address(address):
            raise Refused(f"{host} resolves to {address}, a link-local or metadata address")
        if inside(address) and host not in private_hosts:
            raise Refused(
                f"{host} resolves to {address}, a private address not in notify.private_hosts"
            )
    address = addresses[0].split("%", 1)[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    # the Host header as the URL names it (port included), TLS's name only for a name
    named = parts.netloc.rsplit("@", 1)[-1]
    extensions = {} if _ip(host) is not None else {"sni_hostname": host}
    return Pin(
        url=parts._replace(netloc=netloc).geturl(),
        host=host,
        address=address,
        headers={"Host": named},
        extensions=extensions,
    )
