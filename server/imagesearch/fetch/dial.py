"""The last check of an image_url fetch: the address of every socket the fetcher dials.

Checking the URL's host and the resolver's answers is not enough on its own (issue 10): the
HTTP library normalises hosts after we look at them (IDNA maps "１２７.0.0.1" and
"127。0。0。1" to 127.0.0.1) and connects to IP literals without asking the resolver. So
the connector creates its sockets through `guarded_socket_factory`, which checks the very
address handed to connect() against the policy before the socket exists.

The factory only sees an address, not the URL: the host being fetched (for the
url_allow_hosts names) travels in a context variable set around each request (`dialling`),
and a refusal is recorded there too, because the connection library turns exceptions from
the factory into a generic connection error.
"""

from __future__ import annotations

import contextvars
import errno
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from imagesearch.fetch.policy import AddressPolicy

# (family, type, proto, canonname, sockaddr), as getaddrinfo returns them.
AddrInfo = tuple[Any, ...]


class DialRefused(OSError):
    """The fetcher was about to connect to an address the policy refuses."""


@dataclass
class DialTarget:
    """The host one request is for, and the refusals its connection attempts met."""

    host: str
    refusals: list[str] = field(default_factory=list)


_TARGET: contextvars.ContextVar[DialTarget | None] = contextvars.ContextVar("imagesearch_dial_target", default=None)


@contextmanager
def dialling(host: str) -> Iterator[DialTarget]:
    """Mark the connections opened inside the block as fetches of `host` (the host as the
    HTTP library normalised it)."""
    target = DialTarget(host)
    token = _TARGET.set(target)
    try:
        yield target
    finally:
        _TARGET.reset(token)


def guarded_socket_factory(policy: AddressPolicy) -> Callable[[AddrInfo], socket.socket]:
    """A socket factory for aiohttp's TCPConnector that refuses addresses the policy refuses
    (and every address when no fetch is in progress: a connection nobody vouched for)."""

    def create(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, address = addr_info
        target = _TARGET.get()
        if target is None:
            raise DialRefused(errno.EACCES, "connection outside an image_url fetch refused")
        reason = policy.refusal(target.host, str(address[0]))
        if reason is not None:
            target.refusals.append(reason)
            raise DialRefused(errno.EACCES, reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return create
