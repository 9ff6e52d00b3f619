"""Benchmark: watch-only address derivation throughput per chain family (one core).

Derives N receive addresses per family from an account key built from the BIP-39 test mnemonic
("abandon ... about"), after one warm-up call that parses and caches the key, and prints timings;
the LAST line is one JSON object for tooling:
``{"evm_derivations_per_s": ..., "tron_derivations_per_s": ..., "btc_derivations_per_s": ...}``.

Run: ``python bench/derivation.py [N]`` (default N = 20000).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins, Bip84, Bip84Coins

from payments.derivation import address_derive

MNEMONIC = "abandon " * 11 + "about"


def account_keys() -> dict[str, str]:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    ctx = {
        "evm": Bip44.FromSeed(seed, Bip44Coins.ETHEREUM),
        "tron": Bip44.FromSeed(seed, Bip44Coins.TRON),
        "bitcoin": Bip84.FromSeed(seed, Bip84Coins.BITCOIN),
    }
    return {f: str(c.Purpose().Coin().Account(0).PublicKey().ToExtended()) for f, c in ctx.items()}


def rate(family: str, xpub: str, n: int) -> float:
    address_derive(family=family, xpub=xpub, index=0)  # parse and cache the key outside the timing
    start = time.perf_counter()
    for index in range(n):
        address_derive(family=family, xpub=xpub, index=index)
    return n / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    keys = account_keys()
    names = {"evm": "evm", "tron": "tron", "bitcoin": "btc"}
    result = {}
    for family, xpub in keys.items():
        per_s = rate(family, xpub, n)
        print(f"{family}: {n} addresses, {per_s:,.0f}/s", file=sys.stderr)
        result[f"{names[family]}_derivations_per_s"] = round(per_s)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
