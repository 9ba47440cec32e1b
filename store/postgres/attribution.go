package postgres

import (
	"github.com/agenttrace/agenttrace/store"
)

// Late attribution (store/ATTRIBUTION.md), as the SQLite store does it:
// each trace's session, user, tenant and environment live in trace_attrs;
// a write resolves them for the traces it touches (under their advisory
// locks), fills the fields its spans lack, and brings up to date the
// stored spans (and their rollups) of a trace whose attribution it
// changed.

// The trace-level fields by index: session, user, tenant, environment.
const (
	fSession = iota
	fUser
	fTenant
	fEnv
	nFields
)

var fieldBits = [nFields]store.Fields{store.FieldSession, store.FieldUser, store.FieldTenant, store.FieldEnvironment}

// field returns a pointer to field i of sp.
func field(sp *store.Span, i int) *string {
	switch i {
	case fSession:
		return &sp.SessionID
	case fUser:
		return &sp.UserID
	case fTenant:
		return &sp.TenantID
	default:
		return &sp.Environment
	}
}

// own returns field i of sp as the span carries it ("" if inherited).
func own(sp *store.Span, i int) string {
	if sp.Inherited&fieldBits[i] != 0 {
		return ""
	}
	return *field(sp, i)
}

// attribution is one trace's row of trace_attrs.
type attribution struct {
	vals [nFields]string
	// root holds the fields the root span set: they are final.
	root store.Fields
}

// eligible reports whether sp may give its session, user or environment
// to its trace, or take the trace's: only spans of the trace's tenant (or
// of none) do, so a tenant sharing a trace id with another sees nothing
// of the other's.
func (a *attribution) eligible(sp *store.Span) bool {
	t := own(sp, fTenant)
	return t == "" || t == a.vals[fTenant]
}

// resolve updates a with spans (new spans of its trace, or all of its
// stored and new spans): a root's values replace earlier ones unless a
// root already set them (but for the tenant, which never changes once
// set); a field still empty takes the first value carried. The tenant is resolved first, so the other fields come from
// spans of the trace's tenant.
func (a *attribution) resolve(spans []*store.Span) {
	for _, i := range [...]int{fTenant, fSession, fUser, fEnv} {
		bit := fieldBits[i]
		for _, sp := range spans {
			if v := own(sp, i); v != "" && sp.ParentID == "" && a.root&bit == 0 && (i == fTenant || a.eligible(sp)) {
				if i == fTenant && a.vals[i] != "" && a.vals[i] != v {
					// A trace's tenant, once it has one, never
					// changes: a root of another tenant cannot take
					// the trace's spans (and their summary) away.
					continue
				}
				a.vals[i] = v
				a.root |= bit
			}
		}
		if a.vals[i] != "" {
			continue
		}
		for _, sp := range spans {
			if v := own(sp, i); v != "" && (i == fTenant || a.eligible(sp)) {
				a.vals[i] = v
				break
			}
		}
	}
}

// fill sets the fields sp lacks from a (and clears what it inherited
// that a no longer gives), and returns how many of its own fields
// conflict with a's.
func (a *attribution) fill(sp *store.Span) (conflicts int) {
	var inh store.Fields
	ownTenant := own(sp, fTenant)
	for _, i := range [...]int{fTenant, fSession, fUser, fEnv} {
		v := own(sp, i)
		if v != "" {
			if a.vals[i] != "" && v != a.vals[i] && (i == fTenant || ownTenant == "" || ownTenant == a.vals[fTenant]) {
				conflicts++
			}
		} else if a.vals[i] != "" && (i == fTenant || ownTenant == "" || ownTenant == a.vals[fTenant]) {
			v = a.vals[i]
			inh |= fieldBits[i]
		}
		*field(sp, i) = v
	}
	sp.Inherited = inh
	return conflicts
}
