"""Payments models, one module per concept; re-exported here for Django and for callers."""

from payments.models.charges import Charge, ChargeStatus
from payments.models.ledger import (
    AccountKind,
    Hold,
    HoldStatus,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SystemAccount,
    TransactionKind,
)

__all__ = [
    "AccountKind",
    "Charge",
    "ChargeStatus",
    "Hold",
    "HoldStatus",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "SystemAccount",
    "TransactionKind",
]
