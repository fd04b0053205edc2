"""The HTTP routes of a gRPC service, read from its methods' `google.api.http` options."""

from __future__ import annotations

from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from imagesearch.http.template import PathTemplate

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    http_method: str  # upper case, e.g. "POST"
    template: PathTemplate
    body: str  # "" (no body), "*" (the whole request) or a top-level field name
    response_body: str  # "" (the whole response) or a top-level response field
    method: MethodDescriptor

    @property
    def grpc_path(self) -> str:
        """The gRPC method path, e.g. "/imagesearch.v1.ImageSearchService/SearchItems"."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return self.method.server_streaming


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    bindings: dict[str, str]  # field path -> value from the URL path


class RouteTable:
    """Every bound RPC of some services; `find` picks the route of a request."""

    def __init__(self, routes: list[Route]) -> None:
        # Templates with a verb first, so "items:search" is never taken for an item ID.
        self.routes = sorted(routes, key=lambda r: not r.template.verb)

    @classmethod
    def from_services(cls, *services: ServiceDescriptor) -> RouteTable:
        routes: list[Route] = []
        for service in services:
            for method in service.methods:
                routes.extend(routes_of(method))
        return cls(routes)

    def find(self, http_method: str, raw_path: str) -> RouteMatch | None | str:
        """The matching route; or "method" when the path exists under another method only;
        or None when no route has the path."""
        path_known = False
        for route in self.routes:
            bindings = route.template.match(raw_path)
            if bindings is None:
                continue
            if route.http_method == http_method:
                return RouteMatch(route, bindings)
            path_known = True
        return "method" if path_known else None


def routes_of(method: MethodDescriptor) -> list[Route]:
    """The routes of one RPC: its http rule and additional_bindings. Client-streaming RPCs
    have none (a JSON body cannot carry a stream of requests)."""
    options = method.GetOptions()
    if method.client_streaming or not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    return [_route(method, r) for r in (rule, *rule.additional_bindings)]


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    elif kind in HTTP_METHODS:
        verb, path = kind.upper(), getattr(rule, kind)
    else:
        raise ValueError(f"{method.full_name}: http rule without a pattern")
    route = Route(verb, PathTemplate.parse(path), rule.body, rule.response_body, method)
    fields = method.input_type.fields_by_name
    if rule.body not in ("", "*") and rule.body not in fields:
        raise ValueError(f"{method.full_name}: body {rule.body!r} is not a request field")
    return route
