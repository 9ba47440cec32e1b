package usage

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/agenttrace/agenttrace/internal/wire"
)

// Sentinel errors. Test for them with errors.Is: an *APIError matches the
// one of its status or code, and a *ValidationError (a request the client
// refused to send) matches ErrInvalidArgument.
var (
	// ErrInvalidArgument is a 400 from the server, or an argument the
	// client rejected before sending anything.
	ErrInvalidArgument = errors.New("usage: invalid argument")
	// ErrUnauthorized is a 401: no API key, or an unknown one.
	ErrUnauthorized = errors.New("usage: unauthorized")
	// ErrForbidden is a 403: the key may not read that tenant's data.
	ErrForbidden = errors.New("usage: forbidden")
	// ErrNotFound is a 404: no such trace.
	ErrNotFound = errors.New("usage: not found")
	// ErrUnavailable is a 503 or a 429 that persisted through the
	// client's retries.
	ErrUnavailable = errors.New("usage: unavailable")
	// ErrInvalidOption is returned by NewClient for an invalid option or
	// base URL.
	ErrInvalidOption = errors.New("usage: invalid option")
	// ErrBadResponse means the server answered 2xx with a body the client
	// could not use (not JSON, missing, or a page that cannot be followed).
	ErrBadResponse = errors.New("usage: bad response")
)

// APIError is an error answer from the server: any status other than 2xx.
// Code, Message and Param come from the server's JSON error body
// ({"error":{"code","message","param"}}); for an answer without one (a proxy
// in between, say) Code is empty and Message holds the start of the body or
// the status text.
type APIError struct {
	// StatusCode is the HTTP status, such as 404.
	StatusCode int
	// Code is the server's error code, such as "not_found" or "invalid_argument".
	Code string
	// Message is the server's explanation.
	Message string
	// Param names the offending query parameter of a 400, when known.
	Param string
	// Method and Path say which request failed (path without the query).
	Method string
	Path   string
}

// Error returns "agenttrace server: 404 not_found: <message> (GET /v1/traces/...)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "agenttrace server: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Method != "" || e.Path != "" {
		fmt.Fprintf(&b, " (%s %s)", e.Method, e.Path)
	}
	return b.String()
}

// Is reports whether e is the sentinel target: ErrInvalidArgument for a 400
// or code invalid_argument, ErrUnauthorized for 401, ErrForbidden for 403,
// ErrNotFound for 404, ErrUnavailable for 429 and 503.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalidArgument:
		return e.StatusCode == http.StatusBadRequest || e.Code == wire.CodeInvalidArgument
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.Code == wire.CodeUnauthenticated
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden || e.Code == wire.CodePermissionDenied
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.Code == wire.CodeNotFound
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusTooManyRequests ||
			e.Code == wire.CodeUnavailable
	}
	return false
}

// ValidationError is an argument the client rejected before sending any
// request. It matches ErrInvalidArgument with errors.Is.
type ValidationError struct {
	// Field names the argument, such as "session_id" or "limit" (the wire
	// parameter name where there is one).
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "usage: invalid argument: <field>: <reason>".
func (e *ValidationError) Error() string {
	return "usage: invalid argument: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidArgument.
func (e *ValidationError) Unwrap() error { return ErrInvalidArgument }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
