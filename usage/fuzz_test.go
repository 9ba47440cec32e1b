package usage

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzAnswers feeds arbitrary answers to the client's decoders: error
// bodies, 2xx bodies and Retry-After headers. None may panic, an error
// answer always becomes a usable *APIError, and a 2xx body either decodes or
// gives ErrBadResponse.
func FuzzAnswers(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":"invalid_argument","message":"limit: bad","param":"limit"}}`), "1")
	f.Add(401, []byte(`{"error":{"code":"unauthenticated","message":"no key"}}`), "")
	f.Add(503, []byte(`<html>busy</html>`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(429, []byte(``), "-5")
	f.Add(200, []byte(`{"traces":[],"has_next_page":false}`), "99999999999999999999")
	f.Add(200, []byte(`null`), "0")
	f.Add(599, []byte("\xff\xfe{"), "1e3")
	f.Add(404, []byte(`{"error":{"code":"","message":"x"}}`), " 3 ")
	now := time.Date(2025, 11, 16, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		ae := apiError(status, body)
		if ae == nil || ae.StatusCode != status {
			t.Fatalf("apiError(%d) = %#v", status, ae)
		}
		msg := ae.Error()
		if !strings.HasPrefix(msg, "agenttrace server: ") {
			t.Fatalf("Error() = %q", msg)
		}
		if ae.Code == "" && http.StatusText(status) != "" && !strings.HasPrefix(ae.Message, http.StatusText(status)) {
			t.Fatalf("no code, and the message %q does not start with the status text", ae.Message)
		}
		if status == http.StatusNotFound && !errors.Is(ae, ErrNotFound) {
			t.Fatal("a 404 is not ErrNotFound")
		}

		if d := parseRetryAfter(retryAfter, now); d < 0 || d > maxRetryWait {
			t.Fatalf("parseRetryAfter(%q) = %v", retryAfter, d)
		}

		for _, out := range []any{new(TracesPage), new(SpansPage), new(SessionUsage), new(TraceSummary)} {
			if err := decodeBody(body, "/p", out); err != nil && !errors.Is(err, ErrBadResponse) {
				t.Fatalf("decodeBody: %v is not ErrBadResponse", err)
			}
		}
	})
}

func TestWaitBounds(t *testing.T) {
	c := &Client{backoff: 100 * time.Millisecond}
	for attempt := range 40 {
		d := c.wait(attempt, 0)
		want := min(100*time.Millisecond<<min(attempt, 20), maxRetryWait)
		if d < want/2 || d >= want {
			t.Fatalf("wait(%d) = %v, want in [%v, %v)", attempt, d, want/2, want)
		}
	}
	if d := c.wait(0, 3*time.Second); d != 3*time.Second {
		t.Fatalf("Retry-After 3s: wait %v", d)
	}
	if d := c.wait(0, time.Hour); d != maxRetryWait {
		t.Fatalf("Retry-After 1h: wait %v, want the cap", d)
	}
	if d := (&Client{}).wait(3, 0); d != 0 {
		t.Fatalf("zero backoff: wait %v", d)
	}
}
