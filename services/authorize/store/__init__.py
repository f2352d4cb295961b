"""Storage of the authorize service (its own schema)."""
