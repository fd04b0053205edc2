"""Access control and abuse limits: API keys (keys.py), their roles on collections
(scopes.py), the gRPC interceptor that enforces them (interceptor.py), quotas (quotas.py),
the audit log (audit.py), TLS (tls.py). See docs/security.md."""
