"""HTTP API: native /v1 routers, auth, errors and dialects."""
