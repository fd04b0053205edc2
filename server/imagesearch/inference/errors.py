"""Errors the image encoder raises; the API maps them to gRPC status codes."""


class InvalidImage(Exception):
    """The image could not be decoded or is too large; the message says why (INVALID_ARGUMENT)."""


class InferenceUnavailable(Exception):
    """The inference server is unreachable, not ready, too slow or failed (UNAVAILABLE)."""
