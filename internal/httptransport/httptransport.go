// Package httptransport gives the HTTP transport agenttrace's clients start
// from when the user passes none.
package httptransport

import (
	"net"
	"net/http"
	"time"
)

// Default returns a clone of http.DefaultTransport, or, when a program
// replaced it with another kind of RoundTripper (otelhttp does), a new
// transport with the standard library's default settings. It never panics.
func Default() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
