package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/agenttrace/agenttrace/server"
	"github.com/agenttrace/agenttrace/store/sqlite"
)

// Serve the API over an in-memory store on a loopback port, then stop it
// by cancelling the context (as agenttrace serve does on SIGTERM).
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	srv, err := server.New(st,
		server.WithAPIKeys(server.APIKey{Key: "secret"}, server.APIKey{Key: "acme-key", Tenant: "acme"}),
		server.WithOrganisation("my-org"),
		server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/usage/tenants/acme?start_time=2025-11-16T00:00:00Z&end_time=2025-11-17T00:00:00Z", nil)
	req.Header.Set("Authorization", "Bearer acme-key")
	resp, err := c.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 {"tenant_id":"acme","organisation_id":"my-org","start_time":"2025-11-16T00:00:00Z","end_time":"2025-11-17T00:00:00Z","token_count":0,"request_count":0,"unknown_usage_count":0,"session_count":0,"total_cost":0,"total_cost_nano_usd":0,"input_tokens":0,"output_tokens":0,"cache_read_tokens":0,"cache_creation_tokens":0,"reasoning_tokens":0}
	//
	// stopped: <nil>
}

// A server that answers ingest once the body is in an ingest log next to
// the SQLite file, as agenttrace serve runs: New replays what an earlier
// run logged and did not store; Close (or the end of Serve) writes the
// rest to the store.
func ExampleWithIngestLog() {
	dir, err := os.MkdirTemp("", "agenttrace")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "agenttrace.db")
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	srv, err := server.New(st, server.WithIngestLog(db+".ingest", false), server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	// ... srv.Serve(ctx, ln) ...
	fmt.Println(srv.Close())
	// Output: <nil>
}
