"""Access control: API keys (keys.py), their roles on collections (scopes.py) and the gRPC
interceptor that enforces them (interceptor.py). See docs/security.md, "Access control"."""
