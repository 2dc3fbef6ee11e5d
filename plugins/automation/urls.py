"""Where a webhook may point (SSRF safety). A URL is refused when its host resolves to any
address that is not public — loopback, private, link-local (cloud metadata at 169.254.169.254
among them), shared, multicast, reserved, unspecified, or an IPv6 form of one of these — unless
the `[extra] automation_webhook_allowlist` setting names the host or a network holding the
address. Outside development mode the URL must be HTTPS.

The check runs when a subscription is saved and again before every attempt, and the request is
sent to the very address checked (the host name goes in `Host` and TLS SNI), so a DNS answer that
changes between the check and the connection cannot redirect it. Redirects are never followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from enishi.plugin import Settings

ALLOWLIST_SETTING = "automation_webhook_allowlist"
MAX_URL_LENGTH = 2000


class UnsafeUrl(Exception):
    """The URL may not be called; the message says why (no secret, no personal data in it)."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: httpx.URL
    address: str

    def request_url(self) -> httpx.URL:
        return self.url.copy_with(host=self.address)

    def request_headers(self) -> dict[str, str]:
        return {"host": self.url.netloc.decode("ascii")}

    def extensions(self) -> dict:
        return {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}


def parse(url: str, settings: Settings) -> httpx.URL:
    """The URL, if its form is acceptable (before any DNS)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"a URL has at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeUrl("not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeUrl("an http(s) URL with a host is needed")
    if parsed.userinfo:
        raise UnsafeUrl("credentials in the URL are not accepted; verify the signature instead")
    if parsed.scheme != "https" and settings.is_production:
        raise UnsafeUrl("HTTPS is required outside development mode")
    return parsed


def _allowlist(settings: Settings) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    networks = []
    for entry in settings.extra.get(ALLOWLIST_SETTING, ()):
        try:
            networks.append(ipaddress.ip_network(str(entry), strict=False))
        except ValueError:
            hosts.add(str(entry).lower())
    return hosts, networks


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    if mapped is not None and not _public(mapped):
        return False
    return address.is_global and not address.is_multicast


async def resolve(url: httpx.URL, settings: Settings) -> Target:
    """Resolve the host and check every address it has; the first one is connected to."""
    host = url.host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl("the host does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    allowed_hosts, allowed_networks = _allowlist(settings)
    named = host.lower() in allowed_hosts
    for address in addresses:
        if not (named or _public(address) or any(address in network for network in allowed_networks)):
            raise UnsafeUrl("the host resolves to a loopback, private, link-local or otherwise non-public address")
    return Target(url, str(addresses[0]))


async def check(url: str, settings: Settings) -> Target:
    return await resolve(parse(url, settings), settings)
