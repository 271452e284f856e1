"""Fetching an image by URL without becoming a proxy into private networks.

Only https, only allow-listed hosts, every resolved address public, no redirects, a byte cap read as a stream, and a
time limit. An empty allow-list refuses every URL.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from pipeline.errors import FetchFailed, ImageTooLarge, UnsafeUrl
from events.settings import Settings


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
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchFailed(f"Host '{host}' does not resolve. Check the URL.") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise UnsafeUrl(f"Host '{host}' resolves to a private or reserved address; it is not fetched.")
    return host


def fetch_image(url: str, settings: Settings, allow: AllowList | None = None,
                transport: httpx.BaseTransport | None = None) -> bytes:
    check_url(url, allow or AllowList.for_requests(settings))
    limit = settings.url_max_bytes
    try:
        with httpx.Client(timeout=settings.url_timeout_s, follow_redirects=False, transport=transport) as client:
            with client.stream("GET", url, headers={"Accept": "image/*"}) as resp:
                if resp.status_code != 200:
                    raise FetchFailed(f"The image URL answered HTTP {resp.status_code}; expected 200 with the image.")
                declared = int(resp.headers.get("content-length") or 0)
                if declared > limit:
                    raise ImageTooLarge(f"The image at the URL is {declared / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
                data = bytearray()
                for chunk in resp.iter_bytes():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise ImageTooLarge(f"The image at the URL is larger than {limit / 1e6:.0f} MB.")
                return bytes(data)
    except httpx.TimeoutException:
        raise FetchFailed(f"The image URL did not answer within {settings.url_timeout_s:.0f} s.") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"The image URL could not be fetched ({type(exc).__name__}).") from None
