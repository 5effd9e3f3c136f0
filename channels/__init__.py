"""The doors: HTTP API and dashboard (FastAPI), CLI (Typer), later Slack, e-mail and accounting sync."""
