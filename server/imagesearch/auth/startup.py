"""Safe defaults: without API keys, serve only a loopback address (unless told otherwise)."""

from __future__ import annotations

import ipaddress

from imagesearch.auth.keys import KeyStore


class UnprotectedListen(Exception):
    """A non-loopback listen address, no keys, and no --insecure-no-auth."""


def is_loopback(listen: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (a unix socket counts: only this machine reaches it)."""
    if listen.startswith("unix:"):
        return True
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or empty (every interface)


def check_listen(listen: str, keys: KeyStore, insecure_no_auth: bool) -> None:
    if keys.enforced or insecure_no_auth or is_loopback(listen):
        return
    raise UnprotectedListen(
        f"refusing to serve {listen} without API keys: anyone who reaches it could read, change and delete "
        f"every collection. Create a key (imagesearch keys create NAME --role admin:* --data-dir ...; it is "
        f"looked for in {keys.file.path}), listen on 127.0.0.1, or pass --insecure-no-auth"
    )
