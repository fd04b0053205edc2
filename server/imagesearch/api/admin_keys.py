"""API key handlers: CreateApiKey, GetApiKey, ListApiKeys, DeleteApiKey over the server's
key file (auth/keys.py: SHA-256 hashes only). After each change the server's KeyStore is
re-read at once, so a created key works and a revoked one is refused from the next call on
(other processes sharing the file see it within auth.keys.RELOAD_INTERVAL_S)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import grpc
from google.protobuf import empty_pb2
from imagesearch_client.v1 import admin_pb2 as apb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import admin_convert as convert
from imagesearch.api import validation
from imagesearch.api.errors import ApiError, failed_precondition, invalid, unary_errors
from imagesearch.auth.keys import ApiKey, KeyStore, KeyStoreError
from imagesearch.auth.scopes import Grant, InvalidGrant, Role


def _unwritable(keys: KeyStore, exc: OSError) -> ApiError:
    return failed_precondition(
        ErrorReason.STORE_UNSUPPORTED,
        f"the key file {keys.file.path} cannot be written ({exc.strerror or exc}): it is probably mounted read-only "
        "(a Kubernetes Secret); manage its keys offline with `imagesearch keys ... --api-keys-file`")


def _not_found(key_id: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.API_KEY_NOT_FOUND,
                    f"no API key named {key_id!r}: see ListApiKeys", "", {"api_key": key_id})


class ApiKeyHandlers:
    """The key RPCs; `keys` is the KeyStore the auth interceptor reads."""

    keys: KeyStore

    def _all(self) -> list[ApiKey]:
        return sorted(self.keys.file.load(), key=lambda k: k.name)

    def _message(self, key: ApiKey) -> apb.ApiKey:
        return convert.api_key(key, self.keys.last_used.get(key.name))

    @unary_errors
    async def CreateApiKey(self, request: apb.CreateApiKeyRequest, context) -> apb.CreateApiKeyResponse:
        key_id = validation.collection_id(request.api_key_id, "api_key_id")
        grants = self._grants(request.api_key.roles)
        expires_in_days = None
        if request.api_key.HasField("expire_time"):
            left = request.api_key.expire_time.ToDatetime(timezone.utc) - datetime.now(timezone.utc)
            if left.total_seconds() <= 0:
                raise invalid("api_key.expire_time", "api_key.expire_time is in the past: give a future time, or "
                              "leave it unset for a key that does not expire")
            expires_in_days = left.total_seconds() / 86400
        existing = await asyncio.to_thread(self.keys.file.load)
        if not existing and not any(g.role is Role.ADMIN and g.pattern == "*" for g in grants):
            raise invalid("api_key.roles", "this is the server's first key: from now on every call needs a key, so "
                          "the first one must hold 'admin:*' (or nobody could manage keys through the API)")
        try:
            secret = await asyncio.to_thread(self.keys.file.create, key_id, grants, expires_in_days)
        except OSError as exc:
            raise _unwritable(self.keys, exc) from None
        except KeyStoreError:
            raise ApiError(grpc.StatusCode.ALREADY_EXISTS, ErrorReason.API_KEY_ALREADY_EXISTS,
                           f"an API key named {key_id!r} exists: delete it first or choose another ID", "",
                           {"api_key": key_id}) from None
        self.keys.reload(force=True)
        created = next(k for k in self._all() if k.name == key_id)
        return apb.CreateApiKeyResponse(api_key=self._message(created), key=secret)

    @staticmethod
    def _grants(roles) -> tuple[Grant, ...]:
        if not roles:
            raise invalid("api_key.roles", "api_key.roles is empty: give at least one ROLE:PATTERN, e.g. "
                          "'read:photos' or 'admin:*'")
        try:
            return tuple(Grant.parse(r) for r in roles)
        except InvalidGrant as exc:
            raise invalid("api_key.roles", f"{exc}; PATTERN is a collection ID, a prefix ending in '*', or '*'") from None

    @unary_errors
    async def GetApiKey(self, request: apb.GetApiKeyRequest, context) -> apb.ApiKey:
        key_id = convert.api_key_of(request.name)
        for key in await asyncio.to_thread(self._all):
            if key.name == key_id:
                return self._message(key)
        raise _not_found(key_id)

    @unary_errors
    async def ListApiKeys(self, request: apb.ListApiKeysRequest, context) -> apb.ListApiKeysResponse:
        keys = await asyncio.to_thread(self._all)
        page, token = convert.paged(keys, lambda k: [k.name], request.page_size, request.page_token, "apiKeys")
        return apb.ListApiKeysResponse(api_keys=[self._message(k) for k in page], next_page_token=token)

    @unary_errors
    async def DeleteApiKey(self, request: apb.DeleteApiKeyRequest, context) -> empty_pb2.Empty:
        key_id = convert.api_key_of(request.name)
        try:
            await asyncio.to_thread(self.keys.file.revoke, key_id)
        except OSError as exc:
            raise _unwritable(self.keys, exc) from None
        except KeyStoreError:
            raise _not_found(key_id) from None
        self.keys.reload(force=True)
        return empty_pb2.Empty()
