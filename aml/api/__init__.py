"""The AML engine's staff API (under /api/v1/staff/)."""
