"""billable's domain: the pure model, the use cases (services) and the store."""
