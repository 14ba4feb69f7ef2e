package orders_test

import (
	"fmt"
	"math/big"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
)

// Triggers as people write them, and the execution price they are
// compared with.
func ExampleParseCondition() {
	eth := policies.Token{Symbol: "ETH", Decimals: 18}
	usdc := policies.Token{Symbol: "USDC", Address: "0x2000000000000000000000000000000000000002", Decimals: 6}
	c, err := orders.ParseCondition("price of ETH <= 2,500 USDC", eth, usdc)
	fmt.Println(c, err)
	// Selling 1 ETH for 2,480 USDC: the price of ETH is 2480, which holds.
	p := orders.Price("ETH", eth, usdc, big.NewInt(1e18), big.NewInt(2_480_000_000))
	fmt.Println(orders.FormatPrice(p), c.Holds(p))
	every, runs, err := orders.ParseSchedule("every day for 7")
	fmt.Println(orders.FormatEvery(every), runs, err)
	// Output:
	// ETH <= 2500 <nil>
	// 2480 true
	// 1d 7 <nil>
}
