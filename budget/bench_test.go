package budget_test

import (
	"context"
	"testing"

	"github.com/agenttrace/agenttrace/budget"
)

// BenchmarkAdmitSettle is the whole budget work of one model call in the
// middleware: price lookup, check and reservation, then settlement, on one
// hard budget and on three (trace, session, tenant), from 1 and from all
// goroutines (-cpu).
func BenchmarkAdmitSettle(b *testing.B) {
	hard := func() *budget.Tracker {
		l, err := budget.New(1e6, budget.Hard())
		if err != nil {
			b.Fatal(err)
		}
		return budget.NewTracker(l, budget.ScopeTrace, "t")
	}
	for _, bc := range []struct {
		name string
		set  *budget.Set
	}{
		{"budgets=1", budget.NewSet(hard())},
		{"budgets=3", budget.NewSet(hard(), hard(), hard())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a, err := bc.set.Admit(context.Background(), call)
					if err != nil {
						b.Fatal(err)
					}
					a.Settle(1000, true, "")
				}
			})
		})
	}
}
