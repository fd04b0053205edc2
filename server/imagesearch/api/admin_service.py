"""The imagesearch.v1.ImageSearchAdminService servicer (admin.proto): snapshots, aliases,
re-processing and API keys, over the same context as ImageSearchService (one store, the
same served model sets) and the KeyStore the auth interceptor reads."""

from __future__ import annotations

from imagesearch_client.v1 import admin_pb2_grpc as apb_grpc

from imagesearch.api.admin_aliases import AliasHandlers
from imagesearch.api.admin_keys import ApiKeyHandlers
from imagesearch.api.admin_reprocess import ReprocessHandlers
from imagesearch.api.admin_snapshots import SnapshotHandlers
from imagesearch.api.context import ServiceContext
from imagesearch.auth.keys import KeyStore

ADMIN_SERVICE_NAME = "imagesearch.v1.ImageSearchAdminService"


class ImageSearchAdminService(
    SnapshotHandlers, AliasHandlers, ReprocessHandlers, ApiKeyHandlers, apb_grpc.ImageSearchAdminServiceServicer
):
    """Implements imagesearch.v1.ImageSearchAdminService."""

    def __init__(self, ctx: ServiceContext, keys: KeyStore) -> None:
        self.ctx = ctx
        self.keys = keys
        self.reprocessing: set[str] = set()  # source collections with a run under way


def add_admin_service(ctx: ServiceContext, keys: KeyStore, server) -> ImageSearchAdminService:
    """Register the admin service on a grpc.aio server."""
    service = ImageSearchAdminService(ctx, keys)
    apb_grpc.add_ImageSearchAdminServiceServicer_to_server(service, server)
    return service
