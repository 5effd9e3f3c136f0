"""The `billable` command line (Typer + rich): set-up, serve, demo, users, invoices, audit.

The entry point is `channels.cli.main:app`; each command calls one domain service.
"""
