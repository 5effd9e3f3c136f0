"""Accounting sync (issue 16): QuickBooks Online over its v3 API and intuit-oauth. The domain decides what to push
and records what happened (domain/services/accounting*.py); this package speaks to QuickBooks."""
