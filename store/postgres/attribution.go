package postgres

import (
	"github.com/agenttrace/agenttrace/store/internal/lateattr"
)

// Late attribution (store/ATTRIBUTION.md), as the SQLite store does it:
// each trace's session, user, tenant and environment live in trace_attrs;
// a write resolves them for the traces it touches (under their advisory
// locks), fills the fields its spans lack, and brings up to date the
// stored spans (and their rollups) of a trace whose attribution it
// changed.

// Late attribution's rules are lateattr's; these names keep the store's
// code short.
type attribution = lateattr.Trace

const (
	fSession = lateattr.Session
	fUser    = lateattr.User
	fTenant  = lateattr.Tenant
	fEnv     = lateattr.Env
	nFields  = lateattr.N
)
