"""Code shared by the gateway and every service: settings, errors, storage, gRPC plumbing."""
