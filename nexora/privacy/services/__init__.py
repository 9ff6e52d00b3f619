"""Privacy services: erasure requests, anonymisation, profile correction."""
