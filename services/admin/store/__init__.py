"""Storage of the admin service (its own schema)."""
