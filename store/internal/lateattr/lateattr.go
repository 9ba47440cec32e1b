// Package lateattr holds the rules of late attribution
// (store/ATTRIBUTION.md) that every store applies at ingest: how a trace's
// session, user, tenant and environment are resolved from its spans, and
// how a span without them takes its trace's. Stores keep a Trace per trace
// id and apply Resolve and Fill to the spans a write brings and, when a
// trace's values change, to its stored spans.
package lateattr

import "github.com/agenttrace/agenttrace/store"

// The trace-level fields by index: session, user, tenant, environment.
const (
	Session = iota
	User
	Tenant
	Env
	N
)

var Bits = [N]store.Fields{store.FieldSession, store.FieldUser, store.FieldTenant, store.FieldEnvironment}

// Field returns a pointer to field i of sp.
func Field(sp *store.Span, i int) *string {
	switch i {
	case Session:
		return &sp.SessionID
	case User:
		return &sp.UserID
	case Tenant:
		return &sp.TenantID
	default:
		return &sp.Environment
	}
}

// Own returns field i of sp as the span carries it ("" if inherited).
func Own(sp *store.Span, i int) string {
	if sp.Inherited&Bits[i] != 0 {
		return ""
	}
	return *Field(sp, i)
}

// Trace is one trace's row of trace_attrs.
type Trace struct {
	Vals [N]string
	// root holds the fields the root span set: they are final.
	Root store.Fields
}

// Eligible reports whether sp may give its session, user or environment
// to its trace, or take the trace's: only spans of the trace's tenant (or
// of none) do, so a tenant sharing a trace id with another sees nothing
// of the other's.
func (a *Trace) Eligible(sp *store.Span) bool {
	t := Own(sp, Tenant)
	return t == "" || t == a.Vals[Tenant]
}

// Resolve updates a with spans (new spans of its trace, or all of its
// stored and new spans): a root's values replace earlier ones unless a
// root already set them (but for the tenant, which never changes once
// set); a field still empty takes the first value carried. The tenant is resolved first, so the other fields come from
// spans of the trace's tenant.
func (a *Trace) Resolve(spans []*store.Span) {
	for _, i := range [...]int{Tenant, Session, User, Env} {
		bit := Bits[i]
		for _, sp := range spans {
			if v := Own(sp, i); v != "" && sp.ParentID == "" && a.Root&bit == 0 && (i == Tenant || a.Eligible(sp)) {
				if i == Tenant && a.Vals[i] != "" && a.Vals[i] != v {
					// A trace's tenant, once it has one, never
					// changes: a root of another tenant cannot take
					// the trace's spans (and their summary) away.
					continue
				}
				a.Vals[i] = v
				a.Root |= bit
			}
		}
		if a.Vals[i] != "" {
			continue
		}
		for _, sp := range spans {
			if v := Own(sp, i); v != "" && (i == Tenant || a.Eligible(sp)) {
				a.Vals[i] = v
				break
			}
		}
	}
}

// Fill sets the fields sp lacks from a (and clears what it inherited
// that a no longer gives), and returns how many of its own fields
// conflict with a's.
func (a *Trace) Fill(sp *store.Span) (conflicts int) {
	var inh store.Fields
	ownTenant := Own(sp, Tenant)
	for _, i := range [...]int{Tenant, Session, User, Env} {
		v := Own(sp, i)
		if v != "" {
			if a.Vals[i] != "" && v != a.Vals[i] && (i == Tenant || ownTenant == "" || ownTenant == a.Vals[Tenant]) {
				conflicts++
			}
		} else if a.Vals[i] != "" && (i == Tenant || ownTenant == "" || ownTenant == a.Vals[Tenant]) {
			v = a.Vals[i]
			inh |= Bits[i]
		}
		*Field(sp, i) = v
	}
	sp.Inherited = inh
	return conflicts
}

// Outcome says what a write's spans did to one trace's attribution.
type Outcome struct {
	// Write: the trace's attribution row must be written (new, or changed).
	Write bool
	// Repair: its values changed, so its stored spans must follow (a root
	// that confirms the values its children carried only marks them
	// final, which changes no span).
	Repair bool
	// Absorb: the trace took its first tenant; its summary of no tenant
	// joins that tenant's.
	Absorb bool
}

// Update resolves a, the trace's stored attribution (zero, with stored
// false, for a trace not seen before), with the write's spans of the trace,
// fills those spans, adds each one's conflicts to conflicts, and says what
// changed.
func (a *Trace) Update(spans []*store.Span, stored bool, conflicts map[*store.Span]int) Outcome {
	old := *a
	a.Resolve(spans)
	for _, sp := range spans {
		conflicts[sp] = a.Fill(sp)
	}
	if stored && *a == old {
		return Outcome{}
	}
	o := Outcome{Write: true}
	if stored && a.Vals != old.Vals {
		o.Repair = true
		o.Absorb = old.Vals[Tenant] == "" && a.Vals[Tenant] != ""
	}
	return o
}
