"""The gRPC API: request handlers, validation, error mapping, metrics."""
