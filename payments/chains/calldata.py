"""Token payments read from a transaction's call data, for EVM and TRON alike.

A token transfer shows up as an event log only once its transaction is mined and succeeded. Before
that (the mempool) and when it reverted (no log at all) the only record of what it meant to pay is
the call data of ``transfer(to, amount)`` (selector ``a9059cbb``) or ``transferFrom(from, to,
amount)`` (``23b872dd``) sent to the token contract. Both chains use the same ABI encoding; only
the address spelling differs, so this module returns the raw 20-byte hex and the caller converts it
(EIP-55 or TRON base58).
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSFER = "a9059cbb"
TRANSFER_FROM = "23b872dd"
_WORD = 64  # hex digits in one ABI word


@dataclass(frozen=True, slots=True)
class TokenCall:
    recipient_hex: str  # 20 bytes, 40 lower-case hex digits
    amount: int
    owner_hex: str = ""  # transferFrom's ``from``; "" for transfer (the caller pays)


def _word(data: str, position: int) -> str:
    return data[8 + position * _WORD : 8 + (position + 1) * _WORD]


def token_call(data: str) -> TokenCall | None:
    """The payment a ``transfer`` / ``transferFrom`` call data encodes, or None for anything else."""
    data = data.lower().removeprefix("0x")
    selector = data[:8]
    words = {TRANSFER: 2, TRANSFER_FROM: 3}.get(selector)
    if words is None or len(data) < 8 + words * _WORD:
        return None
    try:
        values = [_word(data, i) for i in range(words)]
        amount = int(values[-1], 16)
        int(values[-2], 16)
    except ValueError:
        return None
    owner = values[0][-40:] if selector == TRANSFER_FROM else ""
    return TokenCall(recipient_hex=values[-2][-40:], amount=amount, owner_hex=owner)
