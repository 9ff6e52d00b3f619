"""Local EVM chain tooling for the chain-scanner tests (anvil harness, see anvil.py)."""
