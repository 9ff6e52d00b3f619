"""Sanctions matching benchmark: ``sanctions_match`` + ``denylist_match`` with the snapshot loaded.

Creates a fresh database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/nexora_bench),
migrates it, imports the shared OFAC snapshot twice over (the SDN advanced XML, 760 listings, and
the per-asset lists, 758 more: both sources at once is the largest realistic table), and puts
``DENY`` synthetic addresses on the deny list through the service. Then, from one process:

* ``snapshot_load_ms``: the first match after a reset (version query + loading every active row);
* ``version_check_ms``: the median cost of the periodic re-check (one raw SQL round trip);
* ``matches_per_s``: ``MATCHES`` screenings of a source address, each one ``sanctions_match`` and
  one ``denylist_match`` (what rules 1 and 2 of an assessment call), over a mix of 10 % listed
  addresses (EVM ones in random letter case) and 90 % unlisted ones: 50 % EVM, 30 % TRON,
  10 % bech32, 10 % base58 Bitcoin. The default 5 s re-check interval applies throughout;
* ``p50_us`` / ``p99_us``: per-screening latency over a second pass, timed call by call;
  ``p50_us_by_family`` the median per family (bech32 costs most: its checksum is computed in Python).

``import_xml_s`` is the wall time of the XML import (checksum, hashes, streaming parse, diff,
inserts). Last line of output: one JSON object with those keys and ``listings`` / ``deny_entries``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("NEXORA_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
DATA_DIR = Path(os.environ.get("NEXORA_SANCTIONS_DATA", ROOT.parent / "shared" / "data" / "sanctions"))
MATCHES = int(os.environ.get("MATCHES", "200000"))
DENY = int(os.environ.get("DENY", "1000"))
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def random_address(rng: random.Random, family: str) -> str:
    if family == "evm":
        return "0x" + "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(40))
    if family == "tron":
        return "T" + "".join(rng.choice(B58) for _ in range(33))
    if family == "bech32":
        return "bc1q" + "".join(rng.choice(BECH32) for _ in range(38))
    return "1" + "".join(rng.choice(B58) for _ in range(33))


def random_case(rng: random.Random, address: str) -> str:
    if not address.startswith("0x"):
        return address
    return "0x" + "".join(c.upper() if rng.random() < 0.5 else c for c in address[2:])


def setup() -> tuple[int, int, float]:
    from django.contrib.auth import get_user_model

    from aml.sanctions.models import SanctionedAddress
    from aml.sanctions.services import denylist_add, sanctions_import_run

    started = time.perf_counter()
    sanctions_import_run(paths=[DATA_DIR / "sdn_advanced.xml.bz2"], actor_label="bench")
    import_xml_s = time.perf_counter() - started
    sanctions_import_run(paths=sorted(DATA_DIR.glob("sanctioned_addresses_*.txt")), actor_label="bench")
    staff = get_user_model().objects.create_superuser(username="bench-compliance", password=None)
    rng = random.Random(7)
    for _ in range(DENY):
        denylist_add(address=random_address(rng, "evm"), reason="bench", actor=staff)
    return SanctionedAddress.objects.count(), DENY, import_xml_s


def workload() -> list[tuple[str, str]]:
    from aml.sanctions.models import SanctionedAddress

    rng = random.Random(42)
    listed = list(SanctionedAddress.objects.values_list("family", "listed_as"))
    families = ["evm"] * 5 + ["tron"] * 3 + ["bech32", "base58"]
    work = []
    for _ in range(MATCHES):
        if rng.random() < 0.1:
            family, address = rng.choice(listed)
            work.append((f"listed-{family}", random_case(rng, address)))
        else:
            family = rng.choice(families)
            work.append((family, random_address(rng, family)))
    return work


def measure(work: list[tuple[str, str]]) -> dict[str, object]:
    from aml.sanctions.selectors import denylist_match, sanctions_match
    from aml.sanctions.snapshot import holder, read_version

    holder.reset()
    started = time.perf_counter()
    sanctions_match(work[0][1])
    load_ms = (time.perf_counter() - started) * 1000
    checks = []
    for _ in range(200):
        t0 = time.perf_counter()
        read_version()
        checks.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    for _, address in work:
        sanctions_match(address)
        denylist_match(address)
    elapsed = time.perf_counter() - started

    latencies: dict[str, list[float]] = {}
    for family, address in work:
        t0 = time.perf_counter_ns()
        sanctions_match(address)
        denylist_match(address)
        latencies.setdefault(family, []).append((time.perf_counter_ns() - t0) / 1000)
    every = sorted(value for values in latencies.values() for value in values)
    return {
        "matches_per_s": round(len(work) / elapsed),
        "p50_us": round(statistics.median(every), 2),
        "p99_us": round(every[int(len(every) * 0.99) - 1], 2),
        "p50_us_by_family": {f: round(statistics.median(v), 2) for f, v in sorted(latencies.items())},
        "snapshot_load_ms": round(load_ms, 2),
        "version_check_ms": round(statistics.median(checks), 3),
    }


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print("importing the snapshot ...", file=sys.stderr)
    listings, deny, import_xml_s = setup()
    print(f"{listings} listings, {deny} deny-list entries; matching ...", file=sys.stderr)
    result = measure(workload())
    extra = {"listings": listings, "deny_entries": deny, "import_xml_s": round(import_xml_s, 2)}
    print(json.dumps({**result, **extra}))


if __name__ == "__main__":
    main()
