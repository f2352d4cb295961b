"""Storage of the client registry: SQL tables and a KeyValue read cache."""
