"""The pure model: value objects, rules and state machines. Standard library, pydantic and Babel only."""
