"""Fixtures of the chain tests: ``chain`` is a fresh anvil for one test (it starts in a fraction of a
second), stopped after it whatever happens. Modules with their own ``chain`` fixture keep theirs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chain.anvil import Anvil


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


def token_deploy(chain: Anvil, artifact: str = "TetherToken", *, mint: int = 0) -> str:
    """Deploy a test token from ``accounts[0]``; ``mint`` base units go to ``accounts[1]``."""
    owner = chain.accounts[0]
    token = chain.deploy(artifact, sender=owner)
    if mint:
        chain.receipt(chain.token_mint(token, chain.accounts[1], mint, sender=owner))
    return token
