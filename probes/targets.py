"""Where the open-world probes may connect: http(s) servers on loopback, private or public addresses, but never
link-local addresses (169.254.0.0/16, fe80::/10), the shared address space 100.64.0.0/10 (Alibaba Cloud's metadata
service is 100.100.100.200) or cloud metadata names, whose answers hold instance credentials. A prompt-injected URL
must not turn a verify tool into a metadata reader.

The name is resolved once, every address it resolves to is checked, and the probe then connects to the checked
address (the URL carries the address; Host header and TLS server name carry the name), so a second DNS answer
(rebinding) never reaches the socket. A name that does not resolve is refused.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import anyio

from ml_expert_mcp.tools.common.errors import PlanInputError

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal",
                            "metadata.tencentyun.com"})
REFUSED_NETWORKS = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd00:ec2::254/128"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """A checked base URL: `url` names the checked address, `shown` is the caller's URL without credentials."""

    url: str
    shown: str
    host_header: str
    sni_hostname: str | None
    auth: tuple[str, str] | None


def refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None,
                    ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None]
        candidates += [e for e in embedded if e is not None]
    return any(c.is_link_local or any(c in net for net in REFUSED_NETWORKS if c.version == net.version)
               for c in candidates)


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_target(url: str, field: str) -> Target:
    """Resolve the URL's host once; refuse it (PlanInputError naming `field`) if it does not resolve or any address
    is refused; return the URL pinned to the first checked address."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PlanInputError(field, "the port is not a number in 0..65535") from None
    if host in METADATA_HOSTS:
        raise PlanInputError(field, f"{host} is a cloud metadata service; probes do not contact it")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [host]
    else:
        try:
            addresses = await anyio.to_thread.run_sync(_resolve, host, port)
        except (OSError, UnicodeError, ValueError):
            addresses = []
        if not addresses:
            raise PlanInputError(field, f"{host[:80]!r} does not resolve; give a resolvable name or an address")
    bad = [a for a in addresses if refused(a)]
    if bad:
        raise PlanInputError(field, f"{host[:80]} resolves to {bad[0]}, a link-local or shared (100.64.0.0/10) "
                             "address (cloud metadata range); refused")
    address = addresses[0].split("%")[0]
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    try:  # Host header and TLS server name are ASCII: an internationalised name goes in its IDNA form
        name = f"[{host}]" if literal is not None and literal.version == 6 else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise PlanInputError(field, f"{host[:80]!r} is not a valid host name") from None
    host_header = name if parts.port is None else f"{name}:{parts.port}"
    auth = (unquote(parts.username or ""), unquote(parts.password or "")) if parts.username is not None else None
    path = parts.path.rstrip("/")
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"
    return Target(url=f"{parts.scheme}://{netloc}{path}", shown=shown, host_header=host_header,
                  sni_hostname=None if literal is not None else name, auth=auth)
