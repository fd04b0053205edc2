"""Vector storage: one interface, an embedded Qdrant engine and a remote Qdrant client."""
