"""The image_url fetcher against the SSRF tricks of issue 10, called directly, with real
listening sockets on 127.0.0.1 that count the connections they get."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

import pytest

from conftest import corel_path
from image_http import ImageHttpServer
from imagesearch.fetch.dial import dialling
from imagesearch.fetch.fetcher import FetchFailed, FetchLimits, UrlFetcher
from imagesearch.fetch.policy import AddressPolicy, FetchRefused

LIMITS = FetchLimits(max_bytes=5_000_000, timeout_s=5, max_redirects=3)
SECRET = b"SECRET-BANNER-7f3a"


@dataclass
class RawListener:
    """A TCP listener on 127.0.0.1 that answers every connection with fixed bytes (a fake
    SSH banner, a crafted HTTP answer) and counts the connections it accepted."""

    answer: bytes
    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    accepted: int = 0

    def __post_init__(self) -> None:
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    server = RawListener(b"SSH-2.0-OpenSSH_9.6 " + SECRET + b"\r\n")
    yield server
    server.close()


async def fetch(url: str, policy: AddressPolicy = AddressPolicy()) -> bytes:
    fetcher = UrlFetcher(policy, LIMITS)
    try:
        return await fetcher.fetch(url)
    finally:
        await fetcher.close()


# Hosts that read as names to urlsplit but that the URL library turns into 127.0.0.1.
DISGUISED_LOOPBACK = {
    "fullwidth digits": "１２７.0.0.1",
    "ideographic full stops": "127。0。0。1",
    "fullwidth digits and stops": "１２７．０．０．１",
}


@pytest.mark.parametrize("kind", sorted(DISGUISED_LOOPBACK))
async def test_non_ascii_loopback_is_refused_before_connecting(listener: RawListener, kind: str) -> None:
    url = f"http://{DISGUISED_LOOPBACK[kind]}:{listener.port}/x.jpg"
    with pytest.raises(FetchRefused, match="127.0.0.1"):
        await fetch(url)
    assert listener.accepted == 0


async def test_connector_checks_the_address_it_dials(listener: RawListener) -> None:
    """The last line of defence on its own: the fetcher's connection pool refuses to open a
    socket to a loopback address even when the URL checks are skipped."""
    fetcher = UrlFetcher(AddressPolicy(), LIMITS)
    try:
        session = fetcher._client()
        with dialling("example.com") as target:  # a public name, as a check may have seen it
            with pytest.raises(OSError, match="loopback"):
                await session.get(f"http://127.0.0.1:{listener.port}/")
        assert target.refusals and "loopback" in target.refusals[0]
        # A connection outside any fetch is refused as well.
        with pytest.raises(OSError, match="outside an image_url fetch"):
            await session.get(f"http://127.0.0.1:{listener.port}/")
    finally:
        await fetcher.close()
    assert listener.accepted == 0


@pytest.mark.parametrize(
    "address, kind",
    [("2002:7f00:1::", "6to4"), ("2002:a00:1::1", "6to4"), ("fec0::1", "site-local"), ("::ffff:10.0.0.1", "private")],
)
async def test_ipv6_ranges_that_reach_private_hosts_are_refused(address: str, kind: str) -> None:
    assert kind in (AddressPolicy().refusal(address, address) or "")
    with pytest.raises(FetchRefused, match=kind):
        await fetch(f"http://[{address}]:8080/x.jpg")


async def test_public_addresses_still_pass_the_policy() -> None:
    policy = AddressPolicy()
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "2001:4860:4860::8888"):
        assert policy.refusal(address, address) is None


ANSWERS = {
    "non-HTTP banner": b"SSH-2.0-OpenSSH_9.6 " + SECRET + b"\r\n",
    "reason phrase": b"HTTP/1.1 404 " + SECRET + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "content type": b"HTTP/1.1 200 OK\r\nContent-Type: text/" + SECRET + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    "redirect target": b"HTTP/1.1 302 Found\r\nLocation: gopher://" + SECRET + b"/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(ANSWERS))
async def test_errors_do_not_echo_what_the_remote_sent(kind: str) -> None:
    """Otherwise the fetcher reads the banner of any TCP service it can reach."""
    server = RawListener(ANSWERS[kind])
    try:
        with pytest.raises(FetchFailed) as caught:
            await fetch(f"http://127.0.0.1:{server.port}/x.jpg", AddressPolicy.parse("127.0.0.1"))
    finally:
        server.close()
    assert server.accepted >= 1  # it did connect: the answer is what is being tested
    message = str(caught.value)
    assert SECRET.decode() not in message and "SSH" not in message


async def test_allow_listed_name_still_fetches() -> None:
    """The dial check honours url_allow_hosts names: localhost resolves to 127.0.0.1."""
    web = ImageHttpServer.start()
    try:
        body = await fetch(web.url("corel/7"), AddressPolicy.parse("localhost"))
        assert body == corel_path(7).read_bytes()
        with pytest.raises(FetchRefused, match="loopback"):
            await fetch(web.url("corel/7"))  # not allow-listed: refused
    finally:
        web.stop()
