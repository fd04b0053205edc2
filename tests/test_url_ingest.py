"""image_url through the real server: fetched from an allow-listed local HTTP server,
and refused (with a reason) for private addresses, slow, oversized or non-image answers."""

from __future__ import annotations

import time

import grpc
import pytest

from conftest import ServerProcess, corel_path
from image_http import ImageHttpServer
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import field_violations
from test_bad_input import expect_error

COLLECTION = "url-ingest"


@pytest.fixture(scope="module")
def web():
    server = ImageHttpServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def collection(client: ImageSearchClient) -> str:
    client.create_collection(COLLECTION)
    client.create_item(COLLECTION, InsertItem(image=corel_path(500).read_bytes(), id="by-bytes"))
    return COLLECTION


def test_insert_and_search_by_url(client: ImageSearchClient, collection: str, web: ImageHttpServer) -> None:
    assert client.create_item(collection, InsertItem(image_url=web.url("corel/200"), id="by-url")).id == "by-url"
    hits = client.search(collection, corel_path(200).read_bytes(), top_k=1)
    assert hits[0].id == "by-url" and hits[0].score >= 0.99
    hits = client.search(collection, image_url=web.url("corel/500"), top_k=1)
    assert hits[0].id == "by-bytes" and hits[0].score >= 0.99
    moderation = client.moderate_image(image_url=web.url("corel/500"))
    assert moderation.nsfw_score == pytest.approx(client.moderate_image(corel_path(500).read_bytes()).nsfw_score, abs=1e-6)


def test_redirects_within_limit_are_followed(client: ImageSearchClient, collection: str, web: ImageHttpServer) -> None:
    hits = client.search(collection, image_url=web.url("redirect/3/500"), top_k=1)
    assert hits[0].id == "by-bytes"


def test_stream_mixes_urls_and_bytes(client: ImageSearchClient, web: ImageHttpServer) -> None:
    name = "url-ingest-stream"
    client.create_collection(name)
    items = [
        InsertItem(image_url=web.url("corel/300"), id="u300"),
        InsertItem(image=corel_path(301).read_bytes(), id="b301"),
        InsertItem(image_url=web.url("corel/302", host="127.0.0.1"), id="refused"),
        InsertItem(image_url=web.url("as-text"), id="text"),
    ]
    outcomes = {o.id: o for o in client.import_items(name, items, timeout=60)}
    assert outcomes["u300"].ok and outcomes["b301"].ok
    assert outcomes["refused"].error.code == grpc.StatusCode.PERMISSION_DENIED
    assert outcomes["refused"].error.reason == "URL_FORBIDDEN"
    assert outcomes["text"].error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert outcomes["text"].error.reason == "URL_FETCH_FAILED"
    assert client.count_items(name) == 2


REFUSED = {
    "loopback literal": ("http://127.0.0.1:{port}/corel/1", "loopback"),
    "loopback IPv6": ("http://[::1]:{port}/corel/1", "loopback"),
    "cloud metadata": ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    "private": ("http://10.1.2.3/x.jpg", "private"),
    "IPv4-mapped loopback": ("http://[::ffff:127.0.0.1]:{port}/corel/1", "loopback"),
    "redirect to loopback": ("http://localhost:{port}/to-loopback", "loopback"),
    "redirect to metadata": ("http://localhost:{port}/to-metadata", "cloud metadata"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_non_public_addresses_refused(client: ImageSearchClient, collection: str, web: ImageHttpServer, kind: str) -> None:
    template, words = REFUSED[kind]
    url = template.format(port=web.port)
    err = expect_error(grpc.StatusCode.PERMISSION_DENIED, client.search, collection, image_url=url, reason="URL_FORBIDDEN")
    assert words in err.details() and "url_allow_hosts" in err.details()
    err = expect_error(grpc.StatusCode.PERMISSION_DENIED, client.create_item, collection, InsertItem(image_url=url),
                       reason="URL_FORBIDDEN")
    assert words in err.details()


BAD_ANSWERS = {
    "not an image type": ("as-text", "Content-Type"),
    "declares too many bytes": ("declares-huge", "larger than"),
    "never ends": ("endless", "larger than"),
    "too many redirects": ("redirect/5/1", "redirected more than 3"),
    "missing": ("nope", "HTTP 404"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ANSWERS))
def test_bad_answers(client: ImageSearchClient, collection: str, web: ImageHttpServer, kind: str) -> None:
    path, words = BAD_ANSWERS[kind]
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, image_url=web.url(path),
                       reason="URL_FETCH_FAILED")
    assert words in err.details()


def test_slow_answer_times_out(client: ImageSearchClient, collection: str, web: ImageHttpServer) -> None:
    started = time.monotonic()
    err = expect_error(grpc.StatusCode.DEADLINE_EXCEEDED, client.search, collection, image_url=web.url("slow"),
                       reason="URL_FETCH_TIMEOUT")
    assert "url_timeout_s" in err.details()
    assert time.monotonic() - started < 6  # the server's 3 s deadline, not the client's


@pytest.mark.parametrize(
    "url, words",
    [("ftp://example.com/x.jpg", "http or https"), ("not a url", "http or https"), ("http://", "no host"),
     ("http://example.com:99999/x", "not a valid URL"), ("http://x/" + "a" * 3000, "limit is 2048")],
)
def test_malformed_urls(client: ImageSearchClient, collection: str, url: str, words: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, image_url=url)
    assert words in err.details() and "image.uri" in field_violations(err)


def test_image_and_url_together(client: ImageSearchClient, collection: str, web: ImageHttpServer) -> None:
    """The API's Image holds bytes or a URL (a oneof), so the client refuses both before sending."""
    item = InsertItem(image=corel_path(1).read_bytes(), image_url=web.url("corel/1"))
    with pytest.raises(ValueError, match="not both"):
        client.create_item(collection, item)
    with pytest.raises(ValueError, match="not both"):
        client.search(collection, corel_path(1).read_bytes(), image_url=web.url("corel/1"))


def test_server_healthy_after_url_abuse(server: ServerProcess, client: ImageSearchClient, collection: str) -> None:
    assert server.process.poll() is None
    assert client.search(collection, corel_path(500).read_bytes(), top_k=1)[0].id == "by-bytes"
