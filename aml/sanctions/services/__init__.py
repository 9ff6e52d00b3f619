"""Services of the sanctions app: imports of OFAC files, and the operator's deny list."""

from aml.sanctions.services.denylist import denylist_add, denylist_remove, denylist_transition
from aml.sanctions.services.imports import (
    sanctioned_address_transition,
    sanctions_import_apply,
    sanctions_import_run,
)

__all__ = [
    "denylist_add",
    "denylist_remove",
    "denylist_transition",
    "sanctioned_address_transition",
    "sanctions_import_apply",
    "sanctions_import_run",
]
