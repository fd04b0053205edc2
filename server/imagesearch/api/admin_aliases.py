"""Alias handlers: the standard methods on "aliases/{alias}". The store keeps the table
(store/aliases.py for the embedded store, Qdrant's aliases for a remote one) and resolves an
alias wherever a collection name is taken, per call, so UpdateAlias switches every later
search and insert at once."""

from __future__ import annotations

from google.protobuf import empty_pb2
from imagesearch_client.v1 import admin_pb2 as apb

from imagesearch.api import admin_convert as convert
from imagesearch.api import validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import invalid, unary_errors
from imagesearch.store.base import AliasNotFound

UPDATABLE_ALIAS_FIELDS = ("collection",)


class AliasHandlers:
    """CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias."""

    ctx: ServiceContext

    @unary_errors
    async def CreateAlias(self, request: apb.CreateAliasRequest, context) -> apb.Alias:
        alias_id = validation.collection_id(request.alias_id, "alias_id")
        collection = validation.collection_of(request.alias.collection, "alias.collection")
        return convert.alias(await self.ctx.store.create_alias(alias_id, collection))

    async def _find(self, alias_id: str):
        for alias in await self.ctx.store.list_aliases():
            if alias.name == alias_id:
                return alias
        raise AliasNotFound(f"alias {alias_id!r} does not exist")

    @unary_errors
    async def GetAlias(self, request: apb.GetAliasRequest, context) -> apb.Alias:
        return convert.alias(await self._find(convert.alias_of(request.name)))

    @unary_errors
    async def ListAliases(self, request: apb.ListAliasesRequest, context) -> apb.ListAliasesResponse:
        collection = None
        if request.collection:
            collection = await self.ctx.store.resolve(validation.collection_of(request.collection, "collection"))
            await self.ctx.store.model_set(collection)  # CollectionNotFound for an unknown one
        aliases = await self.ctx.store.list_aliases(collection)
        page, token = convert.paged(aliases, lambda a: [a.name], request.page_size, request.page_token,
                                    "aliases", request.collection)
        return apb.ListAliasesResponse(aliases=[convert.alias(a) for a in page], next_page_token=token)

    @unary_errors
    async def UpdateAlias(self, request: apb.UpdateAliasRequest, context) -> apb.Alias:
        alias_id = convert.alias_of(request.alias.name, "alias.name")
        paths = set(request.update_mask.paths) - {"*"} or set(UPDATABLE_ALIAS_FIELDS)
        if paths - set(UPDATABLE_ALIAS_FIELDS):
            raise invalid("update_mask", f"update_mask names {sorted(paths - set(UPDATABLE_ALIAS_FIELDS))}: only "
                          "'collection' can change (to rename an alias, create the new one and delete the old)")
        collection = validation.collection_of(request.alias.collection, "alias.collection")
        return convert.alias(await self.ctx.store.switch_alias(alias_id, collection))

    @unary_errors
    async def DeleteAlias(self, request: apb.DeleteAliasRequest, context) -> empty_pb2.Empty:
        await self.ctx.store.delete_alias(convert.alias_of(request.name))
        return empty_pb2.Empty()
