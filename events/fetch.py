"""Fetching an image by URL without becoming a proxy into private networks.

Only https, only allow-listed hosts, every resolved address public and the checked address the one connected to, no
redirects, no proxies from the environment, a byte cap read as a stream, and a time limit for the whole fetch. An
empty allow-list refuses every URL.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from pipeline.errors import FetchFailed, ImageTooLarge, UnsafeUrl

from .settings import Settings


@dataclass(frozen=True)
class AllowList:
    """The hosts a fetch may reach, and the setting that lists them (named in refusals)."""

    hosts: tuple[str, ...]
    setting: str = "BGFLOW_URL_ALLOW_HOSTS"

    @classmethod
    def for_requests(cls, settings: Settings) -> "AllowList":
        return cls(tuple(settings.url_allow_hosts))

    @classmethod
    def for_shopify_images(cls, settings: Settings) -> "AllowList":
        return cls(tuple(settings.shopify_image_hosts), "BGFLOW_SHOPIFY_IMAGE_HOSTS")


def check_url(url: str, allow: AllowList) -> str:
    """The host of a URL that may be fetched, or UnsafeUrl saying why not."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UnsafeUrl("Only https:// image URLs are fetched. Upload the file instead, or use an https link.")
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise UnsafeUrl("The URL has no host, or carries credentials. Send a plain https link to the image.")
    allowed = [h.lower() for h in allow.hosts]
    if not any(host == h or host.endswith("." + h) for h in allowed):
        raise UnsafeUrl(
            f"Host '{host}' is not in {allow.setting}. Upload the file, or ask the operator to allow the host."
        )
    public_address(host, parts.port or 443)
    return host


def public_address(host: str, port: int) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public (UnsafeUrl otherwise)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchFailed(f"Host '{host}' does not resolve. Check the URL.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(a.is_global for a in addresses):
        raise UnsafeUrl(f"Host '{host}' resolves to a private or reserved address; it is not fetched.")
    return str(addresses[0])


class _PublicOnly(httpcore.SyncBackend):
    """Connects to the address it has just checked, so a name that resolves differently the second time (DNS
    rebinding) cannot reach a private address. TLS still verifies the certificate for the host name."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return super().connect_tcp(public_address(host, port), port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the public-only connector, no proxies from the environment."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             network_backend=_PublicOnly())


def fetch_image(url: str, settings: Settings, allow: AllowList | None = None,
                transport: httpx.BaseTransport | None = None) -> bytes:
    check_url(url, allow or AllowList.for_requests(settings))
    limit = settings.url_max_bytes
    deadline = time.monotonic() + settings.url_timeout_s  # for the whole fetch, not each read
    try:
        with httpx.Client(timeout=settings.url_timeout_s, follow_redirects=False,
                          transport=transport or GuardedTransport()) as client:
            with client.stream("GET", url, headers={"Accept": "image/*"}) as resp:
                if resp.status_code != 200:
                    raise FetchFailed(f"The image URL answered HTTP {resp.status_code}; expected 200 with the image.")
                declared = resp.headers.get("content-length") or "0"
                if declared.isdigit() and int(declared) > limit:
                    raise ImageTooLarge(f"The image at the URL is {int(declared) / 1e6:.1f} MB; the limit is "
                                        f"{limit / 1e6:.0f} MB.")
                data = bytearray()
                for chunk in resp.iter_bytes():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise ImageTooLarge(f"The image at the URL is larger than {limit / 1e6:.0f} MB.")
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the whole fetch took too long")
                return bytes(data)
    except httpx.TimeoutException:
        raise FetchFailed(f"The image URL did not answer within {settings.url_timeout_s:.0f} s.") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"The image URL could not be fetched ({type(exc).__name__}).") from None
