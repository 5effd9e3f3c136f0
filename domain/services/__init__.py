"""Use cases: one function each, taking the unit of work and the acting principal. Every door calls these."""
