"""Helpers shared by the tests: a real uvicorn server, an API client, users with tokens, row counts."""
