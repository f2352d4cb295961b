"""Storage of the token service: its own schema (PostgreSQL) or SQLite file."""
