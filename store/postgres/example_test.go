package postgres_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/agenttrace/agenttrace/store"
	"github.com/agenttrace/agenttrace/store/postgres"
)

// Several `agenttrace serve` replicas open the same database; each one
// migrates it at start if needed (under an advisory lock) and refuses a
// schema newer than it knows.
func ExampleOpen() {
	ctx := context.Background()
	st, err := postgres.Open(ctx, "postgres://agenttrace:secret@db.internal:5432/agenttrace?sslmode=require")
	if err != nil {
		log.Fatal(err) // names the URL, without its password
	}
	defer st.Close()
	u, err := st.TenantUsage(ctx, store.UsageQuery{TenantID: "acme", Start: time.Now().Add(-24 * time.Hour), End: time.Now()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.TokenCount(), u.CostNanoUSD)
}
