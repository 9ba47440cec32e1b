package llm

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
)

//go:embed prices.json
var embeddedPrices []byte

// ErrPriceTable is returned (wrapped) by LoadPrices and LoadPricesFile when a
// price table cannot be read or is invalid. Test for it with errors.Is.
var ErrPriceTable = errors.New("llm: invalid price table")

// Rates are the prices of one model, in US dollars per million tokens.
//
// A nil pointer means the price is not known. CachedInput nil with cache-read
// tokens in a usage makes the cost unknown. CacheWrite5m and CacheWrite1h
// both nil means the provider does not charge extra for cache writes (OpenAI:
// written tokens are billed as ordinary input); only one of them nil with
// tokens of that lifetime makes the cost unknown. Reasoning nil means
// reasoning tokens are billed at the Output rate, which is how every provider
// in the embedded table bills them.
type Rates struct {
	// Input is the price of uncached input tokens.
	Input float64 `json:"input"`
	// CachedInput is the price of input tokens read from a prompt cache.
	CachedInput *float64 `json:"cached_input"`
	// CacheWrite5m is the price of input tokens written to a five-minute
	// prompt cache (Anthropic's default lifetime).
	CacheWrite5m *float64 `json:"cache_write_5m"`
	// CacheWrite1h is the price of input tokens written to a one-hour
	// prompt cache.
	CacheWrite1h *float64 `json:"cache_write_1h"`
	// Output is the price of output tokens, reasoning included unless
	// Reasoning is set.
	Output float64 `json:"output"`
	// Reasoning, when set, is the price of reasoning tokens; the rest of
	// the output is billed at Output. Never set in the embedded table.
	Reasoning *float64 `json:"reasoning,omitempty"`
}

// TierCondition says when a PriceTier applies: when the request's total input
// tokens (cache reads and writes included) compare to Value by Operator.
type TierCondition struct {
	// Metric describes the measured quantity, for people; the table always
	// compares llm.Usage.InputTokens (cache tokens included).
	Metric string `json:"metric"`
	// Operator is ">" or ">=".
	Operator string `json:"operator"`
	// Value is the threshold in tokens.
	Value int64 `json:"value"`
	// Requires notes a precondition on the provider's side, for people.
	Requires string `json:"requires,omitempty"`
}

// PriceTier is a set of rates that replaces a model's base rates for every
// token of a request matching its condition (long-context pricing).
type PriceTier struct {
	// Name identifies the tier.
	Name string `json:"name"`
	// Condition says when the tier applies.
	Condition TierCondition `json:"condition"`
	Rates
	// Source is where the tier's prices come from.
	Source string `json:"source,omitempty"`
}

// ModelPrice is one entry of a PriceTable: a model, the ids it answers to and
// its rates.
type ModelPrice struct {
	// Provider is the model's provider (openai, anthropic, google).
	Provider string `json:"provider"`
	// Model is the model's canonical id.
	Model string `json:"model"`
	// Aliases are other ids of the same model at the same price, such as
	// dated snapshots. Only listed ids match: there is no prefix matching.
	Aliases []string `json:"aliases,omitempty"`
	// SamePriceModelIDs are distinct models the provider lists at the same
	// price; they are looked up like aliases.
	SamePriceModelIDs []string `json:"same_price_model_ids,omitempty"`
	Rates
	// Tiers replace the base rates when their condition holds; the first
	// matching tier wins.
	Tiers []PriceTier `json:"tiers,omitempty"`
	// Source is where the prices come from.
	Source string `json:"source,omitempty"`
	// AsOf says when the prices were read.
	AsOf string `json:"as_of,omitempty"`
}

// ids returns the model id, its aliases and same-price ids, normalised.
func (p *ModelPrice) ids() []string {
	out := make([]string, 0, 1+len(p.Aliases)+len(p.SamePriceModelIDs))
	out = append(out, normModel(p.Model))
	for _, a := range p.Aliases {
		out = append(out, normModel(a))
	}
	for _, a := range p.SamePriceModelIDs {
		out = append(out, normModel(a))
	}
	return out
}

func (p *ModelPrice) validate() error {
	if normModel(p.Model) == "" {
		return errors.New("entry without a model id")
	}
	if err := p.Rates.validate(); err != nil {
		return fmt.Errorf("model %q: %w", p.Model, err)
	}
	for i, t := range p.Tiers {
		if err := t.Rates.validate(); err != nil {
			return fmt.Errorf("model %q tier %d: %w", p.Model, i, err)
		}
		switch t.Condition.Operator {
		case ">", ">=":
		default:
			return fmt.Errorf("model %q tier %d: operator %q not supported (want > or >=)", p.Model, i, t.Condition.Operator)
		}
		if t.Condition.Value <= 0 {
			return fmt.Errorf("model %q tier %d: threshold %d must be positive", p.Model, i, t.Condition.Value)
		}
	}
	return nil
}

func (r *Rates) validate() error {
	check := func(name string, v float64) error {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s price %v is not a finite non-negative number", name, v)
		}
		return nil
	}
	if err := check("input", r.Input); err != nil {
		return err
	}
	if err := check("output", r.Output); err != nil {
		return err
	}
	for name, p := range map[string]*float64{"cached_input": r.CachedInput, "cache_write_5m": r.CacheWrite5m, "cache_write_1h": r.CacheWrite1h, "reasoning": r.Reasoning} {
		if p != nil {
			if err := check(name, *p); err != nil {
				return err
			}
		}
	}
	return nil
}

// PriceTable maps model ids to prices and computes the cost of a Usage. A
// table is immutable once built and safe for concurrent use; With and Merge
// return new tables. A nil *PriceTable knows no model.
type PriceTable struct {
	version string
	entries []ModelPrice
	byID    map[string]int // normalised id -> index in entries
}

// priceFile is the JSON document of a price table.
type priceFile struct {
	Version  string       `json:"version"`
	Currency string       `json:"currency"`
	Unit     string       `json:"unit"`
	Models   []ModelPrice `json:"models"`
}

var defaultPrices = sync.OnceValue(func() *PriceTable {
	t, err := parsePrices(embeddedPrices)
	if err != nil {
		panic("llm: embedded prices.json is invalid: " + err.Error()) // caught by tests
	}
	return t
})

// DefaultPrices returns the embedded price table (OpenAI, Anthropic and
// Google models at standard first-party API rates), parsed once. Its Version
// is the date the prices were read; every entry carries its Source and AsOf.
func DefaultPrices() *PriceTable { return defaultPrices() }

// LoadPrices reads a price table in the JSON format of the embedded one:
// {"version": "...", "currency": "USD", "unit": "per_1m_tokens", "models":
// [{"provider", "model", "aliases", "input", "cached_input", "cache_write_5m",
// "cache_write_1h", "output", "tiers", "source", "as_of"}, ...]}. Unknown
// fields are ignored. An invalid table yields an error wrapping ErrPriceTable.
func LoadPrices(r io.Reader) (*PriceTable, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrPriceTable, err)
	}
	return parsePrices(data)
}

// LoadPricesFile reads a price table from a JSON file; see LoadPrices.
func LoadPricesFile(path string) (*PriceTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPriceTable, err)
	}
	defer f.Close()
	t, err := LoadPrices(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func parsePrices(data []byte) (*PriceTable, error) {
	var f priceFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPriceTable, err)
	}
	if f.Currency != "" && !strings.EqualFold(f.Currency, "USD") {
		return nil, fmt.Errorf("%w: currency %q, want USD", ErrPriceTable, f.Currency)
	}
	if f.Unit != "" && f.Unit != "per_1m_tokens" {
		return nil, fmt.Errorf("%w: unit %q, want per_1m_tokens", ErrPriceTable, f.Unit)
	}
	if f.Models == nil {
		return nil, fmt.Errorf("%w: no \"models\" array", ErrPriceTable)
	}
	t := &PriceTable{version: f.Version, byID: make(map[string]int, len(f.Models)*2)}
	if t.version == "" {
		t.version = "custom"
	}
	for i := range f.Models {
		p := f.Models[i]
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("%w: models[%d]: %w", ErrPriceTable, i, err)
		}
		for _, id := range p.ids() {
			if id == "" {
				return nil, fmt.Errorf("%w: models[%d] (%s): empty alias", ErrPriceTable, i, p.Model)
			}
			if j, dup := t.byID[id]; dup && j != len(t.entries) {
				return nil, fmt.Errorf("%w: model id %q listed twice (%s and %s)", ErrPriceTable, id, t.entries[j].Model, p.Model)
			}
			t.byID[id] = len(t.entries)
		}
		t.entries = append(t.entries, p)
	}
	return t, nil
}

// Version returns the table's version: the embedded table's date, a loaded
// file's "version" field, with "+..." suffixes for overrides. It is recorded
// as agenttrace.usage.price_table_version next to a computed cost. A nil
// table's version is "".
func (t *PriceTable) Version() string {
	if t == nil {
		return ""
	}
	return t.version
}

// Models returns a copy of the table's entries, sorted by provider and model.
func (t *PriceTable) Models() []ModelPrice {
	if t == nil {
		return nil
	}
	out := make([]ModelPrice, 0, len(t.entries))
	for i := range t.entries {
		if t.owns(i) {
			out = append(out, t.entries[i])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Model < out[j].Model
	})
	return out
}

// owns reports whether entry i is still reachable by at least one id (an
// entry fully shadowed by overrides is not).
func (t *PriceTable) owns(i int) bool {
	for _, id := range t.entries[i].ids() {
		if t.byID[id] == i {
			return true
		}
	}
	return false
}

// Lookup returns the price of model, matched exactly (case-insensitively,
// surrounding spaces ignored) against each entry's id, aliases and same-price
// ids. There is no prefix matching: a dated snapshot the table does not list
// is unknown, because snapshots are sometimes priced differently
// (gpt-4o-2024-05-13 costs twice gpt-4o).
func (t *PriceTable) Lookup(model string) (ModelPrice, bool) {
	if t == nil {
		return ModelPrice{}, false
	}
	i, ok := t.byID[normModel(model)]
	if !ok {
		return ModelPrice{}, false
	}
	return t.entries[i], true
}

// With returns a new table with entries added. An entry whose Model is the
// model id of an entry of t replaces that entry, aliases included (so
// gpt-4o's dated snapshots follow a new gpt-4o price); otherwise it replaces
// only the ids it lists. The new table's version is t's with
// "+custom" appended. Invalid entries (negative prices, no model id) are
// skipped; use LoadPrices to get an error instead. With on a nil table starts
// from an empty one.
func (t *PriceTable) With(entries ...ModelPrice) *PriceTable {
	base := t.Version()
	version := "custom"
	if base != "" {
		version = base + "+custom"
	}
	return t.extend(version, entries)
}

// Merge returns a new table with o's entries overriding t's as With does. Its
// version is "t-version+o-version". Either table may be nil.
func (t *PriceTable) Merge(o *PriceTable) *PriceTable {
	switch {
	case o == nil:
		return t
	case t == nil:
		return o
	}
	return t.extend(t.version+"+"+o.version, o.Models())
}

func (t *PriceTable) extend(version string, entries []ModelPrice) *PriceTable {
	n := &PriceTable{version: version, byID: make(map[string]int)}
	if t != nil {
		n.entries = append(n.entries, t.entries...)
		for id, i := range t.byID {
			n.byID[id] = i
		}
	}
	for _, p := range entries {
		if p.validate() != nil {
			continue
		}
		idx := len(n.entries)
		// An entry whose model id is another entry's model id replaces that
		// entry with all its ids: a dated alias must not keep an old price.
		if j, ok := n.byID[normModel(p.Model)]; ok && normModel(n.entries[j].Model) == normModel(p.Model) {
			for _, id := range n.entries[j].ids() {
				if n.byID[id] == j {
					n.byID[id] = idx
				}
			}
		}
		n.entries = append(n.entries, p)
		for _, id := range p.ids() {
			if id != "" {
				n.byID[id] = idx
			}
		}
	}
	return n
}

// Cost returns the cost in US dollars of a call to model with usage u, and
// whether the table could price it. It never guesses: an unknown model, a
// usage whose parts do not add up (cache tokens above InputTokens, reasoning
// above OutputTokens, negative counts) or tokens of a kind the model has no
// price for give ok=false.
//
// u follows the package convention (cache tokens included in InputTokens,
// reasoning included in OutputTokens), and each token is billed once:
//
//	(InputTokens - CacheReadTokens - CacheCreationTokens) * Input
//	+ CacheReadTokens * CachedInput
//	+ (CacheCreationTokens - CacheCreation1hTokens) * CacheWrite5m
//	+ CacheCreation1hTokens * CacheWrite1h
//	+ OutputTokens * Output   // reasoning included, never added again
//
// all divided by one million. Cache writes of a model without write prices
// are billed at Input (OpenAI does not charge for writes). When a tier's
// condition holds for InputTokens (long-context pricing), its rates replace
// the base rates for every token. Cost ignores u.CostUSD and u.CostSource.
// Cost is safe on a nil table (ok=false).
func (t *PriceTable) Cost(model string, u Usage) (usd float64, ok bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(u)
}

// Cost returns the cost of usage u at p's rates; see PriceTable.Cost.
func (p ModelPrice) Cost(u Usage) (usd float64, ok bool) {
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens < 0 || u.CacheCreationTokens < 0 ||
		u.CacheCreation1hTokens < 0 || u.ReasoningTokens < 0 {
		return 0, false
	}
	uncached := u.InputTokens - u.CacheReadTokens - u.CacheCreationTokens
	write5m := u.CacheCreationTokens - u.CacheCreation1hTokens
	if uncached < 0 || write5m < 0 || u.ReasoningTokens > u.OutputTokens {
		return 0, false
	}
	r := p.Rates
	for _, tier := range p.Tiers {
		if tier.Condition.holds(u.InputTokens) {
			r = tier.Rates
			break
		}
	}
	var sum float64
	add := func(tokens int64, price *float64) bool {
		if tokens == 0 {
			return true
		}
		if price == nil {
			return false
		}
		sum += float64(tokens) * *price
		return true
	}
	in, out := r.Input, r.Output
	if !add(uncached, &in) || !add(u.CacheReadTokens, r.CachedInput) {
		return 0, false
	}
	w5, w1 := r.CacheWrite5m, r.CacheWrite1h
	if w5 == nil && w1 == nil {
		w5, w1 = &in, &in // no write surcharge: writes are ordinary input
	}
	if !add(write5m, w5) || !add(u.CacheCreation1hTokens, w1) {
		return 0, false
	}
	if r.Reasoning != nil {
		add(u.ReasoningTokens, r.Reasoning)
		add(u.OutputTokens-u.ReasoningTokens, &out)
	} else {
		add(u.OutputTokens, &out)
	}
	return sum / 1e6, true
}

func (c TierCondition) holds(input int64) bool {
	switch c.Operator {
	case ">":
		return input > c.Value
	case ">=":
		return input >= c.Value
	}
	return false
}

func normModel(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
