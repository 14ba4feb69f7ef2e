package tools_test

import (
	"context"
	"fmt"

	"github.com/mandatehq/mandate/tools"
)

// A tool of your own: typed arguments decoded strictly, a JSON Schema for
// the model, and the registry the agent and `mandate tools call` use.
func ExampleFunc() {
	greet := tools.Func("greet", "Greets someone by name.",
		tools.Schema(map[string]string{"name": "who to greet"}, "name"),
		func(_ context.Context, a struct {
			Name string `json:"name"`
		}) (tools.Result, error) {
			if err := tools.Require("greet", "name", a.Name); err != nil {
				return tools.Result{}, err
			}
			return tools.Result{Text: "hello, " + a.Name}, nil
		})
	reg := tools.NewRegistry([]tools.Tool{greet})

	res, err := reg.Call(context.Background(), "greet", []byte(`{"name":"Ada"}`))
	fmt.Println(res.Text, err)
	_, err = reg.Call(context.Background(), "greet", []byte(`{"name":"Ada","admin":true}`))
	fmt.Println(err)
	// Output:
	// hello, Ada <nil>
	// greet: unknown argument "admin"; the tool's schema lists its arguments
}
