package ingestlog_test

import (
	"fmt"
	"os"

	"github.com/agenttrace/agenttrace/internal/ingestlog"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ingestlog")
	defer os.RemoveAll(dir)
	l, _, _ := ingestlog.Open(dir)
	seq, _ := l.Append(0, "acme", []byte("request body"))
	l.Close() // a crash before Release: the record is replayed

	l, recs, _ := ingestlog.Open(dir)
	fmt.Println(seq, len(recs), recs[0].Tenant, string(recs[0].Payload))
	l.Release(recs[len(recs)-1].Seq) // applied: dropped
	l.Close()
	// Output: 1 1 acme request body
}
