// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Forwarder (test double)
/// @notice Moves ETH by an internal call, the way exchange hot wallets, multisigs and smart
///         accounts pay out. The outer transaction's `to` is this contract and its `value` goes
///         to the recipient only inside the execution, so a scanner that looks only at top-level
///         `to`/`value` misses the deposit. `forwardAndFail` performs the same internal transfer
///         and then reverts: the receipt has status 0 and no ETH moves, although a naive trace
///         reader would still see a call with value to the recipient.
contract Forwarder {
    event Forwarded(address indexed from, address indexed to, uint256 value);

    function forward(address payable to) external payable {
        _send(to);
        emit Forwarded(msg.sender, to, msg.value);
    }

    function forwardAndFail(address payable to) external payable {
        _send(to);
        revert("Forwarder: failing on purpose");
    }

    function _send(address payable to) private {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "Forwarder: recipient rejected the value");
    }
}
