"""Downloads an image named by URL with a size cap, a deadline, a redirect limit and a
content-type check, from public addresses only (policy.py).

DNS rebinding: a name checked once and resolved again to connect could point elsewhere
the second time. aiohttp asks our resolver for the addresses it then connects to, so the
check and the connection use the same answer. Addresses written in the URL skip resolvers,
so they are checked before each request; each redirect hop goes through both again.
Finally every socket is checked for the address it dials (dial.py), whatever path the
host took to get there.

Hosts are checked as the HTTP library will use them (yarl's IDNA-normalised form), not as
urlsplit reads them: "http://１２７.0.0.1/" reads as a name but connects to 127.0.0.1.

Error messages never echo bytes the remote sent (reason phrases, header values, protocol
errors quoting a status line): they would let a caller read the banner of any TCP service
the server can reach. The status code and the kind of failure are all a caller gets; the
details go to the debug log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from imagesearch.fetch.dial import dialling, guarded_socket_factory
from imagesearch.fetch.policy import AddressPolicy, FetchRefused

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024


class FetchFailed(Exception):
    """The URL could not be fetched, or did not give an image; the message says why."""


class FetchTimeout(FetchFailed):
    """The whole fetch (all redirects included) took longer than its deadline."""


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on one fetch."""

    max_bytes: int
    timeout_s: float
    max_redirects: int


class _PolicyResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses the host if any address is not allowed."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            # Any refused address refuses the host: a name that mixes public and private
            # answers is exactly what a rebinding attack looks like.
            reason = self._policy.refusal(host, result["host"])
            if reason is not None:
                raise FetchRefused(reason)
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str) -> str:
    """The URL if it is absolute http(s) with a host; FetchFailed otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchFailed(f"image_url is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise FetchFailed(f"image_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise FetchFailed(f"image_url must be an http or https URL, got scheme {parts.scheme or '(none)'!r}")
    if not parts.hostname:
        raise FetchFailed("image_url has no host")
    host = connect_host(url)
    if not parts.hostname.isascii() and _is_ip(host):
        # Fullwidth digits or ideographic dots: nobody writes an address like that except
        # to slip it past a check (issue 10).
        raise FetchRefused(
            f"image_url host {parts.hostname!r} is written with non-ASCII characters that stand for the "
            f"IP address {host}; write addresses in ASCII"
        )
    return url


def connect_host(url: str) -> str:
    """The host the HTTP library connects to for `url`: IDNA-normalised, lower case, an IPv6
    address without brackets. FetchFailed when the host cannot be normalised."""
    try:
        host = yarl.URL(url).host
    except (ValueError, UnicodeError) as exc:
        raise FetchFailed(f"image_url host is not a valid host name: {exc}") from None
    if not host:
        raise FetchFailed("image_url has no host")
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class UrlFetcher:
    """Fetches images by URL. Create and close it inside the serving event loop."""

    def __init__(self, policy: AddressPolicy, limits: FetchLimits) -> None:
        self._policy = policy
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_PolicyResolver(self._policy),
                use_dns_cache=False,
                socket_factory=guarded_socket_factory(self._policy),
            )
            # trust_env=False: proxies from the environment would connect on our behalf, unchecked.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True)
        return self._session

    async def fetch(self, url: str) -> bytes:
        """The body of `url` after at most max_redirects redirects; raises FetchRefused,
        FetchTimeout or FetchFailed with a message for a person."""
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                return await self._follow(check_url(url))
        except TimeoutError:
            raise FetchTimeout(
                f"fetching image_url took longer than {self._limits.timeout_s:g} s (setting url_timeout_s)"
            ) from None

    async def _follow(self, url: str) -> bytes:
        for _ in range(self._limits.max_redirects + 1):
            host = connect_host(url)
            if _is_ip(host) and (reason := self._policy.refusal(host, host)) is not None:
                raise FetchRefused(reason)
            with dialling(host) as target:
                try:
                    async with self._client().get(url, allow_redirects=False) as response:
                        if response.status not in REDIRECT_STATUSES:
                            return await self._body(response)
                        url = _redirect_target(url, response)
                except aiohttp.ClientError as exc:
                    if target.refusals:
                        raise FetchRefused(target.refusals[0]) from None
                    raise _client_failure(host, exc) from None
        raise FetchFailed(
            f"image_url redirected more than {self._limits.max_redirects} times (setting url_max_redirects)"
        )

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        if response.status != 200:
            raise FetchFailed(f"image_url answered HTTP {response.status}")
        content_type = response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("image/"):
            raise FetchFailed("image_url answered with a Content-Type that is not image/*; an image type is required")
        cap = self._limits.max_bytes
        too_big = f"image_url body is larger than the {cap} byte limit (setting url_max_mb)"
        if response.content_length is not None and response.content_length > cap:
            raise FetchFailed(f"{too_big}: Content-Length is {response.content_length}")
        body = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            body += chunk
            if len(body) > cap:
                raise FetchFailed(too_big)
        return bytes(body)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _redirect_target(url: str, response: aiohttp.ClientResponse) -> str:
    """The checked URL a redirect points to. The messages do not quote the Location: it is
    remote bytes (policy refusals name the host, which is what the caller needs)."""
    location = response.headers.get("Location")
    if not location:
        raise FetchFailed(f"image_url answered HTTP {response.status} without a Location")
    try:
        return check_url(urljoin(url, location))
    except FetchRefused:
        raise
    except FetchFailed:
        raise FetchFailed(
            f"image_url answered HTTP {response.status} with a Location that is not a usable http(s) URL"
        ) from None


def _client_failure(host: str, exc: aiohttp.ClientError) -> FetchFailed:
    """A message for a failed request that says what kind of failure, not what the remote said."""
    log.debug("image_url fetch from %s failed", host, exc_info=exc)
    if isinstance(exc, aiohttp.ClientSSLError):
        return FetchFailed(f"TLS with image_url host {host} failed (certificate or protocol)")
    if isinstance(exc, aiohttp.ClientConnectorError):
        # strerror is this machine's wording ("Connection refused"), not the remote's bytes.
        return FetchFailed(f"cannot connect to image_url host {host}: {exc.os_error.strerror or 'connection failed'}")
    return FetchFailed(f"image_url host {host} did not answer with a valid HTTP response")
