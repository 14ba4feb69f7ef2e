package markup_test

import (
	"fmt"

	"github.com/mandatehq/mandate/bots/markup"
)

func ExampleEscape() {
	symbol := "*_["
	fmt.Println("Swapped 1.5 " + markup.Bold(symbol) + " for " + markup.Code("0xabc`"))
	fmt.Println(markup.Escape("Swapped 1.5 ") + markup.Bold(symbol))
	// Output:
	// Swapped 1.5 *\*\_\[* for `0xabc\``
	// Swapped 1\.5 *\*\_\[*
}

func ExampleDiscordEscape() {
	fmt.Println(markup.DiscordEscape("**PEPE** <@123>"))
	// Output:
	// \*\*PEPE\*\* \<@123\>
}
