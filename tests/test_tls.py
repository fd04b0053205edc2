"""TLS and mutual TLS end to end (docs/security.md, "TLS"): one real server (started by the
launcher, on the session server's Triton) with a certificate, a client CA and API keys,
reached by the Python clients, the CLI, grpcurl, curl, the Node client and the HTTPS
gateway; plaintext, wrong-CA, certificate-less and wrongly signed clients refused. A small
in-process server checks TLS without client certificates. Certificates are made here."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from certs import Authority
from conftest import ServerProcess, corel_path, free_port
from imagesearch.auth.keys import KeyFile
from imagesearch.auth.scopes import Grant
from imagesearch.auth.tls import TlsConfigError, TlsFiles
from imagesearch.config import Settings
from imagesearch_client import AsyncImageSearchClient, ImageSearchClient, InsertItem, Tls
from test_node_client import node
from test_readme import readme_block, run_bash

UNREACHABLE = grpc.StatusCode.UNAVAILABLE  # what a failed TLS handshake looks like to a gRPC client


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = Authority(folder, "ca"), Authority(folder, "other-ca")
    return SimpleNamespace(
        folder=folder, ca=ca.pair.cert, other_ca=other.pair.cert, server=ca.issue("server", server=True),
        client=ca.issue("client", server=False), stranger=other.issue("stranger", server=False),
    )


@pytest.fixture(scope="module")
def mtls(pki, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    """The module's one extra server: mutual TLS and API keys, on the session server's Triton."""
    data_dir = tmp_path_factory.mktemp("tls-server")
    key = KeyFile(data_dir / "api_keys.json").create("tls-ops", tuple(Grant.parse(g) for g in ("admin:*", "write:*", "read:*")))
    (pki.folder / "ops.key").write_text(key + "\n")
    credentials = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.client.key.read_bytes(), pki.client.cert.read_bytes())
    health_port = free_port()
    proc = ServerProcess(data_dir, extra_args=[
        "--health-port", str(health_port), "--triton-url", server.triton_url, "--tls-cert-file", str(pki.server.cert), "--tls-key-file",
        str(pki.server.key), "--tls-client-ca-file", str(pki.ca),
    ], tls_credentials=credentials).start()
    with ImageSearchClient(proc.address, api_key=key, tls=Tls(pki.ca, pki.client.cert, pki.client.key)) as c:
        c.create_collection("tls")
        c.create_item("tls", InsertItem(image=corel_path(3).read_bytes(), id="p3"))
    proc.health_port = health_port
    yield proc, key
    proc.stop()


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_python_clients_over_mutual_tls(pki, mtls) -> None:
    proc, key = mtls
    tls = Tls(pki.ca, pki.client.cert, pki.client.key)
    with ImageSearchClient(proc.address, api_key=key, tls=tls) as c:
        assert c.search("tls", corel_path(3).read_bytes(), top_k=1)[0].id == "p3"

    async def listed() -> list[str]:
        async with AsyncImageSearchClient(proc.address, api_key=key, tls=tls) as c:
            return [col.name async for col in c.list_collections()]
    import asyncio
    assert asyncio.run(listed()) == ["collections/tls"]
    # PEM bytes work as well as files; the key is still needed over TLS.
    as_bytes = Tls(pki.ca.read_bytes(), pki.client.cert.read_bytes(), pki.client.key.read_bytes())
    with ImageSearchClient(proc.address, tls=as_bytes) as c:
        assert code_of(lambda: c.get_collection("tls")) == grpc.StatusCode.UNAUTHENTICATED


def test_refused_clients(pki, mtls) -> None:
    proc, key = mtls
    refused = {
        "plaintext": None,
        "wrong CA": Tls(pki.other_ca, pki.client.cert, pki.client.key),
        "no client certificate": Tls(pki.ca),
        "client certificate of another CA": Tls(pki.ca, pki.stranger.cert, pki.stranger.key),
    }
    for what, tls in refused.items():
        with ImageSearchClient(proc.address, timeout=10, api_key=key, tls=tls) as c:
            assert code_of(lambda: c.get_collection("tls")) == UNREACHABLE, what


def test_plaintext_health_port_for_probes(mtls) -> None:
    """Kubernetes' gRPC probes speak plaintext: health_port answers them, and nothing else."""
    proc, _ = mtls
    with grpc.insecure_channel(f"127.0.0.1:{proc.health_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with ImageSearchClient(f"127.0.0.1:{proc.health_port}", timeout=10) as c:
            assert code_of(lambda: list(c.list_collections())) == grpc.StatusCode.UNIMPLEMENTED


def https_get(url: str, context: ssl.SSLContext, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def client_context(ca: Path, cert=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


def test_https_gateway(pki, mtls) -> None:
    proc, key = mtls
    url = proc.http_url + "/v1/collections"
    assert url.startswith("https://")
    good = client_context(pki.ca, pki.client)
    status, body = https_get(url, good, {"X-API-Key": key})
    assert status == 200 and [c["name"] for c in json.loads(body)["collections"]] == ["collections/tls"], body
    # The gateway reaches gRPC through its private socket: keys still apply to HTTP callers.
    status, body = https_get(url, good, {})
    assert status == 401 and "API_KEY_MISSING" in body, body
    for context in (client_context(pki.ca), client_context(pki.ca, pki.stranger), client_context(pki.other_ca, pki.client)):
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            https_get(url, context, {"X-API-Key": key})
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):  # plain HTTP to the TLS port
        urllib.request.urlopen(url.replace("https://", "http://"), timeout=10).read()


def test_cli_readme_grpcurl_and_curl(pki, mtls) -> None:
    proc, _ = mtls
    block = readme_block("On a network: API keys and TLS").replace("127.0.0.1:8080", f"127.0.0.1:{proc.http_port}")
    out = run_bash(block, proc, pki.folder)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('"collections/tls"') == 2, out.stdout  # grpcurl, then curl
    assert out.stdout.rstrip().splitlines()[-1].startswith("tls\t")  # the CLI's list


def test_node_client_over_mutual_tls(pki, mtls) -> None:
    proc, key = mtls
    tls_args = ("--ca", str(pki.ca), "--cert", str(pki.client.cert), "--key", str(pki.client.key))
    os.environ["IMAGESEARCH_API_KEY"] = key
    try:
        out = node("search.js", *tls_args, proc.address, "tls", str(corel_path(3)), "1")
    finally:
        del os.environ["IMAGESEARCH_API_KEY"]
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["item_id"] == "p3"
    out = node("search.js", *tls_args, proc.address, "tls", str(corel_path(3)), "1")  # no key
    assert out.returncode == 2 and out.stderr.splitlines()[-1].startswith("error: 16 "), out.stderr  # UNAUTHENTICATED
    out = node("search.js", "--ca", str(pki.ca), proc.address, "tls", str(corel_path(3)), "1")  # no certificate
    assert out.returncode == 2 and out.stderr.splitlines()[-1].startswith("error: 14 "), out.stderr  # UNAVAILABLE


def test_audit_lines_of_the_real_server(mtls) -> None:
    proc, key = mtls
    log = proc.log_path.read_text(errors="replace")
    lines = [line for line in log.splitlines() if "imagesearch.audit" in line]
    creates = [line for line in lines if "/CreateItem " in line]
    assert creates and 'resource="collections/tls"' in creates[0] and "outcome=OK key=tls-ops key_id=" in creates[0]
    assert not any("/SearchItems" in line or "/ListCollections" in line for line in lines)  # reads are not audited
    assert key not in log and key[4:] not in log


async def test_tls_without_client_certificates(pki) -> None:
    """TlsFiles without a client CA, on an in-process gRPC server: TLS, no client certificate."""
    files = TlsFiles.from_settings(Settings(tls_cert_file=str(pki.server.cert), tls_key_file=str(pki.server.key)))
    assert files is not None and not files.mutual
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", files.grpc_credentials())
    await server.start()
    try:
        async def check(credentials) -> int:
            channel = (grpc.aio.secure_channel(f"localhost:{port}", credentials) if credentials
                       else grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
            async with channel:
                stub = health_pb2_grpc.HealthStub(channel)
                return (await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)).status
        assert await check(grpc.ssl_channel_credentials(pki.ca.read_bytes())) == health_pb2.HealthCheckResponse.SERVING
        for refused in (None, grpc.ssl_channel_credentials(pki.other_ca.read_bytes())):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await check(refused)
            assert caught.value.code() == UNREACHABLE
    finally:
        await server.stop(None)


def test_half_configurations_are_refused(pki, tmp_path: Path) -> None:
    cert, key, ca = str(pki.server.cert), str(pki.server.key), str(pki.ca)
    assert TlsFiles.from_settings(Settings()) is None
    for settings in (Settings(tls_cert_file=cert), Settings(tls_key_file=key), Settings(tls_client_ca_file=ca),
                     Settings(tls_cert_file=cert, tls_key_file=str(tmp_path / "missing.key"))):
        with pytest.raises(TlsConfigError):
            TlsFiles.from_settings(settings)
    with pytest.raises(TlsConfigError):  # a key that is not the certificate's
        TlsFiles(pki.server.cert, pki.client.key).ssl_context()
