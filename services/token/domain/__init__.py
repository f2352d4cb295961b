"""The token service's rules: grants, JWT access tokens, keys, introspection, revocation.

Plain async Python that depends only on the Protocols in :mod:`.ports`.
"""
