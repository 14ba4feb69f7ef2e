// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DevnetERC20
/// @notice A plain ERC-20 for the Mandate devnet (its USDC and DAI): OpenZeppelin's
/// ERC20 with the decimals chosen at deployment and the whole supply minted once
/// to `holder`. No owner, no mint after construction, no fees, no hooks.
contract DevnetERC20 is ERC20 {
    uint8 private immutable _decimals;

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        uint256 initialSupply,
        address holder
    ) ERC20(name_, symbol_) {
        _decimals = decimals_;
        _mint(holder, initialSupply);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
