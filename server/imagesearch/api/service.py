"""The imagesearch.v1.ImageSearchService servicer: the collection, item and search
handlers over one shared context.

Every collection belongs to a model set (models/model_sets.py). Inserts and searches go
through the encoders of the collection's own set, and only when this server serves that
set at the version the collection was built with; anything else is FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
from typing import Mapping

from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc

from imagesearch.api.collections import CollectionHandlers
from imagesearch.api.context import NO_FACE_MODEL, ServiceContext, ServiceLimits
from imagesearch.api.ingest import Ingestor
from imagesearch.api.items import ItemHandlers
from imagesearch.api.people import PeopleHandlers
from imagesearch.api.search import SearchHandlers
from imagesearch.faces.manager import FaceManager
from imagesearch.fetch.fetcher import UrlFetcher
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.inference.nsfw import NsfwScorer
from imagesearch.inference.ocr import OcrReader
from imagesearch.store.base import VectorStore

__all__ = ["ImageSearchService", "ServiceLimits"]


class ImageSearchService(
    CollectionHandlers, ItemHandlers, SearchHandlers, PeopleHandlers, pb_grpc.ImageSearchServiceServicer
):
    """Implements imagesearch.v1.ImageSearchService over the served model sets and a store."""

    def __init__(
        self,
        store: VectorStore,
        model_sets: Mapping[str, ServedModelSet],
        default_model_set: str,
        limits: ServiceLimits,
        fetcher: UrlFetcher,
        nsfw: NsfwScorer,
        faces: FaceManager | None = None,
        ocr: OcrReader | None = None,
        faces_off: str = NO_FACE_MODEL,
    ) -> None:
        self.ctx = ServiceContext(
            store=store, model_sets=dict(model_sets), default_model_set=default_model_set, limits=limits,
            fetcher=fetcher, nsfw=nsfw, faces=faces, ocr=ocr, faces_off=faces_off,
        )
        self.ingestor = Ingestor(self.ctx)
        # One duplicate audit per collection at a time: an audit reads every item.
        self.audits: dict[str, asyncio.Lock] = {}
