// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TetherToken (test double)
/// @notice A USDT-like token for Nexora's chain-scanner tests. It keeps the quirks of the real
///         Tether contract on Ethereum (0xdAC17F958D2ee523a2206206994597C13D831ec7) that matter
///         to a deposit scanner and a payout sender:
///         - 6 decimals, declared as `uint256 public decimals` like the original;
///         - `transfer`, `transferFrom` and `approve` return NOTHING (no bool), so a caller that
///           ABI-decodes a bool from the return data breaks, exactly as with real USDT;
///         - `approve` refuses to change a non-zero allowance to another non-zero value;
///         - the standard `Transfer(address indexed, address indexed, uint256)` event.
///         `mint` is a test convenience: owner-only, emits `Transfer(address(0), to, value)`.
contract TetherToken {
    string public name = "Tether USD";
    string public symbol = "USDT";
    uint256 public decimals = 6;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    modifier onlyOwner() {
        require(msg.sender == owner, "TetherToken: caller is not the owner");
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 value) external onlyOwner {
        require(to != address(0), "TetherToken: mint to the zero address");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) external {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "TetherToken: insufficient allowance");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
    }

    function approve(address spender, uint256 value) external {
        // The original's guard against the approve/transferFrom race.
        require(
            value == 0 || allowance[msg.sender][spender] == 0,
            "TetherToken: reset allowance to zero first"
        );
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "TetherToken: transfer to the zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "TetherToken: insufficient balance");
        balanceOf[from] = held - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
