"""Where the open-world probes may connect: http(s) servers on loopback, private or public addresses, but never
link-local addresses (169.254.0.0/16, fe80::/10) or cloud metadata names, whose answers hold instance credentials.
A prompt-injected URL must not turn a verify tool into a metadata reader."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import anyio

from ml_expert_mcp.tools.common.errors import PlanInputError

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"})


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip == ipaddress.ip_address("fd00:ec2::254")


async def check_target(url: str, field: str) -> None:
    """Resolve the URL's host and refuse it (PlanInputError naming `field`) if any address is link-local."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise PlanInputError(field, f"{host} is a cloud metadata service; probes do not contact it")
    try:
        infos = await anyio.to_thread.run_sync(lambda: socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except OSError:
        return  # unresolvable: the request itself reports the failure
    if any(_refused(info[4][0]) for info in infos):
        raise PlanInputError(field, f"{host} resolves to a link-local address (cloud metadata range); refused")
