"""The Litestar HTTP API: one controller per resource, auth, error mapping, OpenAPI."""
