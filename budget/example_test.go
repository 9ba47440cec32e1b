package budget_test

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/llm"
)

// A limit is made once, validated, and given to traces (trace.WithBudget)
// or to a client for every session or tenant (trace.WithSessionBudget,
// trace.WithTenantBudget).
func ExampleNew() {
	perRun, err := budget.New(0.50, budget.Hard(), budget.OnThreshold(func(c budget.Crossing) {
		fmt.Printf("%s %s reached %v%% (%s)\n", c.Scope, c.ID, c.Percent, c.Spent)
	}))
	if err != nil {
		panic(err)
	}
	fmt.Println(perRun.Amount())

	_, err = budget.New(math.NaN())
	fmt.Println(errors.Is(err, budget.ErrInvalidLimit), err)
	_, err = budget.New(-1)
	fmt.Println(err)
	// Output:
	// $0.500000000
	// true budget: invalid limit: amount NaN is not a finite number of US dollars
	// budget: invalid limit: amount -1 must be positive
}

// The provider middleware checks every call through the trace's Set; code
// that calls a model some other way can do the same.
func ExampleSet_Admit() {
	lim, _ := budget.New(0.02, budget.Hard(), budget.OnThreshold(func(c budget.Crossing) {
		fmt.Printf("warning: %v%% of the budget spent\n", c.Percent)
	}))
	set := budget.NewSet(budget.NewTracker(lim, budget.ScopeTrace, "run-1"))
	call := budget.Call{Model: "gpt-4o", Prices: llm.DefaultPrices(), InputBytes: 300, MaxOutputTokens: 1000}
	for i := 1; ; i++ {
		adm, err := set.Admit(context.Background(), call)
		var be *budget.ExceededError
		if errors.As(err, &be) {
			fmt.Printf("call %d refused (%s): spent %s of %s\n", i, be.Reason, be.Spent, be.Limit)
			return
		}
		adm.Settle(budget.FromUSD(0.006), true, "") // the call's cost, once known
	}
	// Output:
	// warning: 50% of the budget spent
	// call 3 refused (worst_case): spent $0.012000000 of $0.020000000
}
