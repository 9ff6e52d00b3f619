// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title FakeUSDT (test double)
/// @notice A look-alike token: same name "Tether USD", same symbol "USDT", same 6 decimals, same
///         `Transfer` event, but deployed at another address. Scammers deploy such tokens to fake
///         deposits. The scanner identifies a token by its contract address only, so it must
///         ignore every transfer of this token. Unlike the real USDT it is a plain ERC-20 whose
///         `transfer`, `transferFrom` and `approve` return `bool`. `mint` is owner-only.
contract FakeUSDT {
    string public constant name = "Tether USD";
    string public constant symbol = "USDT";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public immutable owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == owner, "FakeUSDT: caller is not the owner");
        require(to != address(0), "FakeUSDT: mint to the zero address");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "FakeUSDT: insufficient allowance");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "FakeUSDT: transfer to the zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "FakeUSDT: insufficient balance");
        balanceOf[from] = held - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
