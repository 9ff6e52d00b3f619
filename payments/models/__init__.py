"""Payments models, one module per concept; re-exported here for Django and for callers."""

from payments.models.alerts import AlertKind, OperatorAlert
from payments.models.charges import Charge, ChargeStatus
from payments.models.fields import ChainAmountField
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
from payments.models.lookalikes import LookalikeTransfer
from payments.models.networks import DepositAddress, DerivationCounter, Family, Network
from payments.models.payouts import (
    DestinationKind,
    PayoutRequest,
    PayoutStatus,
    RefundAddress,
    RefundAddressStatus,
)
from payments.models.scanner import KEEP_BLOCKS, ScanCursor, ScannedBlock
from payments.models.topups import (
    Deposit,
    DepositStatus,
    ReviewFlag,
    TopUp,
    TopUpException,
    TopUpStatus,
    TxLookup,
    TxLookupStatus,
    UnappliedReason,
)

__all__ = [
    "KEEP_BLOCKS",
    "AccountKind",
    "AlertKind",
    "ChainAmountField",
    "Charge",
    "ChargeStatus",
    "Deposit",
    "DepositAddress",
    "DepositStatus",
    "DerivationCounter",
    "DestinationKind",
    "Family",
    "Hold",
    "HoldStatus",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "LookalikeTransfer",
    "Network",
    "OperatorAlert",
    "PayoutRequest",
    "PayoutStatus",
    "RefundAddress",
    "RefundAddressStatus",
    "ReviewFlag",
    "ScanCursor",
    "ScannedBlock",
    "SystemAccount",
    "TopUp",
    "TopUpException",
    "TopUpStatus",
    "TransactionKind",
    "TxLookup",
    "TxLookupStatus",
    "UnappliedReason",
]
