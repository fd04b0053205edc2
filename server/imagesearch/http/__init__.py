"""HTTP/JSON access to the gRPC API: REST transcoding from the proto's google.api.http
rules (AIP-127), an OpenAPI 3.1 document generated from the same descriptors, /healthz.
See docs/http.md."""

from imagesearch.http.gateway import GatewayConfig, HttpGateway, grpc_target

__all__ = ["GatewayConfig", "HttpGateway", "grpc_target"]
