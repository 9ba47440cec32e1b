package llm_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agenttrace/agenttrace/llm"
)

func costOf(t *testing.T, table *llm.PriceTable, model string, u llm.Usage) float64 {
	t.Helper()
	got, ok := table.Cost(model, u)
	if !ok {
		t.Fatalf("Cost(%q, %+v): ok=false, want a cost", model, u)
	}
	return got
}

func assertUSD(t *testing.T, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost = %.12f USD, want %.12f", got, want)
	}
}

func TestDefaultPricesVersionAndEntries(t *testing.T) {
	p := llm.DefaultPrices()
	if p != llm.DefaultPrices() {
		t.Fatal("DefaultPrices must parse once and return the same table")
	}
	if p.Version() != "2026-11-25" {
		t.Fatalf("Version() = %q", p.Version())
	}
	models := p.Models()
	if len(models) != 24 {
		t.Fatalf("embedded table has %d entries, want 24", len(models))
	}
	providers := map[string]int{}
	for _, m := range models {
		providers[m.Provider]++
		if m.Source == "" || m.AsOf == "" {
			t.Errorf("%s: missing source or as_of", m.Model)
		}
	}
	for _, want := range []string{"openai", "anthropic", "google"} {
		if providers[want] == 0 {
			t.Errorf("no %s models in the embedded table", want)
		}
	}
}

// OpenAI: prompt_tokens 1000 of which 800 cached, completion 200.
// gpt-4o: input $2.50, cached $1.25, output $10 per 1M.
// 200*2.50 + 800*1.25 + 200*10 = 500 + 1000 + 2000 = 3500 -> $0.0035.
func TestCostOpenAICachedInput(t *testing.T) {
	u := llm.Usage{InputTokens: 1000, CacheReadTokens: 800, OutputTokens: 200}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "gpt-4o", u), 0.0035)
	// A dated snapshot the table lists as an alias prices the same.
	assertUSD(t, costOf(t, llm.DefaultPrices(), "gpt-4o-2024-08-06", u), 0.0035)
	// Without the cache discount it would be 1000*2.5+2000 = 4500: make sure
	// the cache was not ignored.
	if c := costOf(t, llm.DefaultPrices(), "gpt-4o", llm.Usage{InputTokens: 1000, OutputTokens: 200}); math.Abs(c-0.0045) > 1e-12 {
		t.Fatalf("uncached cost %.12f, want 0.0045", c)
	}
}

// Anthropic claude-sonnet-4-5 (input $3, cache read $0.30, 5m write $3.75,
// 1h write $6, output $15 per 1M). Provider usage: input_tokens 20, cache
// read 1000, cache creation 500, output 50; normalised input = 1520.
func TestCostAnthropicCacheWrite(t *testing.T) {
	// All 500 written with the default 5-minute lifetime:
	// 20*3 + 1000*0.3 + 500*3.75 + 50*15 = 60 + 300 + 1875 + 750 = 2985.
	u := llm.Usage{InputTokens: 1520, CacheReadTokens: 1000, CacheCreationTokens: 500, OutputTokens: 50}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-sonnet-4-5", u), 0.002985)

	// 300 with 5m and 200 with 1h lifetime:
	// 60 + 300 + 300*3.75 + 200*6 + 750 = 60 + 300 + 1125 + 1200 + 750 = 3435.
	u.CacheCreation1hTokens = 200
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-sonnet-4-5-20250929", u), 0.003435)

	// All 1h: 60 + 300 + 500*6 + 750 = 4110.
	u.CacheCreation1hTokens = 500
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-sonnet-4-5", u), 0.004110)
}

// o3: input $2, output $8. 100 input, 500 output of which 400 reasoning:
// 100*2 + 500*8 = 4200 -> $0.0042 (adding reasoning again would give 0.0074).
func TestCostReasoningNotCountedTwice(t *testing.T) {
	u := llm.Usage{InputTokens: 100, OutputTokens: 500, ReasoningTokens: 400}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "o3", u), 0.0042)
	// Anthropic thinking tokens are inside output_tokens too.
	// claude-haiku-4-5: 1000*1 + 300*5 = 2500.
	u = llm.Usage{InputTokens: 1000, OutputTokens: 300, ReasoningTokens: 250}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-haiku-4-5", u), 0.0025)
}

func TestCostUnknownModel(t *testing.T) {
	u := llm.Usage{InputTokens: 10, OutputTokens: 10}
	for _, m := range []string{"", "gpt-7", "gpt-4o-2024-06-01", "gpt-4o-", "gpt", "claude-sonnet-4", "claude-opus-4"} {
		if c, ok := llm.DefaultPrices().Cost(m, u); ok || c != 0 {
			t.Errorf("Cost(%q) = %v, %v; want 0, false", m, c, ok)
		}
	}
	var nilTable *llm.PriceTable
	if _, ok := nilTable.Cost("gpt-4o", u); ok {
		t.Error("nil table priced a model")
	}
	if nilTable.Version() != "" || nilTable.Models() != nil {
		t.Error("nil table should have no version and no models")
	}
}

// gpt-4o-2024-05-13 has its own entry ($5 / no cached price / $15) and must
// not be prefix-matched onto gpt-4o.
func TestCostGPT4o20240513(t *testing.T) {
	// 1000*5 + 100*15 = 6500 -> $0.0065 (gpt-4o would give 0.0035).
	u := llm.Usage{InputTokens: 1000, OutputTokens: 100}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "gpt-4o-2024-05-13", u), 0.0065)
	// It has no cached price: a cached usage cannot be priced.
	u.CacheReadTokens = 10
	if _, ok := llm.DefaultPrices().Cost("gpt-4o-2024-05-13", u); ok {
		t.Fatal("cached tokens priced without a cached price")
	}
}

// Long context: claude-sonnet-4-5 above 200K input uses $6 / $0.60 / $22.50
// for every token. 250000 input of which 50000 cached, 1000 output:
// 200000*6 + 50000*0.6 + 1000*22.5 = 1200000 + 30000 + 22500 -> $1.2525.
func TestCostLongContextTier(t *testing.T) {
	u := llm.Usage{InputTokens: 250000, CacheReadTokens: 50000, OutputTokens: 1000}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-sonnet-4-5", u), 1.2525)
	// Exactly 200000 is not above the threshold: 200000*3 + 1000*15 = 615000.
	u = llm.Usage{InputTokens: 200000, OutputTokens: 1000}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "claude-sonnet-4-5", u), 0.615)
	// gemini-2.5-pro over 200K: 300000*2.5 + 1000*15 = 765000.
	u = llm.Usage{InputTokens: 300000, OutputTokens: 1000, ReasoningTokens: 600}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "gemini-2.5-pro", u), 0.765)
}

func TestCostOpenAICacheWriteBilledAsInput(t *testing.T) {
	// OpenAI does not charge for writes: 1000 input (300 written) at $2.50.
	u := llm.Usage{InputTokens: 1000, CacheCreationTokens: 300}
	assertUSD(t, costOf(t, llm.DefaultPrices(), "gpt-4o", u), 0.0025)
}

func TestCostInconsistentUsage(t *testing.T) {
	bad := []llm.Usage{
		{InputTokens: 10, CacheReadTokens: 11},
		{InputTokens: 10, CacheReadTokens: 5, CacheCreationTokens: 6},
		{InputTokens: 10, CacheCreationTokens: 5, CacheCreation1hTokens: 6},
		{OutputTokens: 10, ReasoningTokens: 11},
		{InputTokens: -1},
	}
	for _, u := range bad {
		if c, ok := llm.DefaultPrices().Cost("claude-sonnet-4-5", u); ok {
			t.Errorf("Cost(%+v) = %v, true; want ok=false", u, c)
		}
	}
}

func TestPriceTableWithOverrides(t *testing.T) {
	base := llm.DefaultPrices()
	cached := 0.5
	custom := base.With(
		llm.ModelPrice{Provider: "openai", Model: "gpt-4o", Rates: llm.Rates{Input: 1, CachedInput: &cached, Output: 2}},
		llm.ModelPrice{Provider: "acme", Model: "acme-1", Aliases: []string{"acme-1-2026"}, Rates: llm.Rates{Input: 10, Output: 20}},
		llm.ModelPrice{Model: "bad", Rates: llm.Rates{Input: -1}}, // skipped
	)
	if custom.Version() != "2026-11-25+custom" {
		t.Fatalf("version %q", custom.Version())
	}
	u := llm.Usage{InputTokens: 1000, CacheReadTokens: 800, OutputTokens: 200}
	// 200*1 + 800*0.5 + 200*2 = 1000.
	assertUSD(t, costOf(t, custom, "gpt-4o", u), 0.001)
	// Overriding a model id replaces its entry with its aliases.
	assertUSD(t, costOf(t, custom, "gpt-4o-2024-08-06", u), 0.001)
	// Overriding only an alias leaves the model's other ids alone.
	byAlias := base.With(llm.ModelPrice{Model: "gpt-4o-2024-11-20", Rates: llm.Rates{Input: 1, Output: 1}})
	assertUSD(t, costOf(t, byAlias, "gpt-4o-2024-11-20", llm.Usage{InputTokens: 1000}), 0.001)
	assertUSD(t, costOf(t, byAlias, "gpt-4o-2024-08-06", u), 0.0035)
	if n := len(byAlias.Models()); n != 25 {
		t.Fatalf("%d models", n)
	}
	assertUSD(t, costOf(t, custom, "ACME-1-2026", llm.Usage{InputTokens: 100, OutputTokens: 100}), 0.003)
	if _, ok := custom.Lookup("bad"); ok {
		t.Fatal("an invalid entry was added")
	}
	// The base table is unchanged.
	assertUSD(t, costOf(t, base, "gpt-4o", u), 0.0035)
	if _, ok := base.Lookup("acme-1"); ok {
		t.Fatal("With modified its receiver")
	}
	var nilTable *llm.PriceTable
	if c := costOf(t, nilTable.With(llm.ModelPrice{Model: "m", Rates: llm.Rates{Input: 1}}), "m", llm.Usage{InputTokens: 1e6}); c != 1 {
		t.Fatalf("cost %v", c)
	}
}

const customJSON = `{"version": "acme-2026-01", "currency": "USD", "unit": "per_1m_tokens", "models": [
 {"provider": "openai", "model": "gpt-4o", "input": 3, "cached_input": null, "cache_write_5m": null, "cache_write_1h": null, "output": 9, "tiers": []},
 {"provider": "acme", "model": "acme-r", "input": 1, "output": 2, "reasoning": 4,
  "tiers": [{"name": "big", "condition": {"metric": "input", "operator": ">=", "value": 1000}, "input": 10, "output": 20, "reasoning": 40}]}
]}`

func TestLoadPricesAndMerge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(path, []byte(customJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	custom, err := llm.LoadPricesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if custom.Version() != "acme-2026-01" {
		t.Fatalf("version %q", custom.Version())
	}
	// Separate reasoning price: 100*1 + (50-30)*2 + 30*4 = 100+40+120 = 260.
	assertUSD(t, costOf(t, custom, "acme-r", llm.Usage{InputTokens: 100, OutputTokens: 50, ReasoningTokens: 30}), 0.00026)
	// Tier at >= 1000: 1000*10 + 20*20 + 30*40 = 10000+400+1200 = 11600.
	assertUSD(t, costOf(t, custom, "acme-r", llm.Usage{InputTokens: 1000, OutputTokens: 50, ReasoningTokens: 30}), 0.0116)

	merged := llm.DefaultPrices().Merge(custom)
	if merged.Version() != "2026-11-25+acme-2026-01" {
		t.Fatalf("version %q", merged.Version())
	}
	// 1000*3 + 100*9 = 3900.
	assertUSD(t, costOf(t, merged, "gpt-4o", llm.Usage{InputTokens: 1000, OutputTokens: 100}), 0.0039)
	assertUSD(t, costOf(t, merged, "o3", llm.Usage{InputTokens: 100, OutputTokens: 500, ReasoningTokens: 400}), 0.0042)
	if _, ok := merged.Lookup("acme-r"); !ok {
		t.Fatal("merged table lacks acme-r")
	}
	if n := len(merged.Models()); n != 25 {
		t.Fatalf("merged table has %d models, want 25 (24 + acme-r, gpt-4o replaced)", n)
	}
}

func TestLoadPricesErrors(t *testing.T) {
	cases := map[string]string{
		"not json":       `{`,
		"no models":      `{"version":"x"}`,
		"negative":       `{"models":[{"model":"m","input":-1,"output":1}]}`,
		"no id":          `{"models":[{"model":" ","input":1,"output":1}]}`,
		"duplicate":      `{"models":[{"model":"m","input":1,"output":1},{"model":"x","aliases":["M"],"input":1,"output":1}]}`,
		"currency":       `{"currency":"EUR","models":[]}`,
		"unit":           `{"unit":"per_token","models":[]}`,
		"bad operator":   `{"models":[{"model":"m","input":1,"output":1,"tiers":[{"condition":{"operator":"<","value":5}}]}]}`,
		"zero threshold": `{"models":[{"model":"m","input":1,"output":1,"tiers":[{"condition":{"operator":">","value":0}}]}]}`,
		"empty alias":    `{"models":[{"model":"m","aliases":[""],"input":1,"output":1}]}`,
	}
	for name, doc := range cases {
		_, err := llm.LoadPrices(strings.NewReader(doc))
		if !errors.Is(err, llm.ErrPriceTable) {
			t.Errorf("%s: err = %v, want ErrPriceTable", name, err)
		}
	}
	if _, err := llm.LoadPricesFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, llm.ErrPriceTable) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func FuzzLoadPrices(f *testing.F) {
	f.Add([]byte(customJSON))
	f.Add([]byte(`{"models":[{"model":"m","input":1e308,"output":1e308,"cached_input":0}]}`))
	f.Add([]byte(`{"models":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := llm.LoadPrices(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, llm.ErrPriceTable) {
				t.Fatalf("error does not wrap ErrPriceTable: %v", err)
			}
			return
		}
		for _, m := range table.Models() {
			c, ok := table.Cost(m.Model, llm.Usage{InputTokens: 1000, CacheReadTokens: 10, CacheCreationTokens: 10, OutputTokens: 10, ReasoningTokens: 5})
			if ok && (c < 0 || math.IsNaN(c)) {
				t.Fatalf("%s: cost %v", m.Model, c)
			}
		}
	})
}

func ExamplePriceTable_Cost() {
	// An Anthropic call normalised to llm.Usage: 20 uncached input tokens,
	// 1000 read from the cache and 500 written to it, 50 output tokens.
	u := llm.Usage{InputTokens: 1520, CacheReadTokens: 1000, CacheCreationTokens: 500, OutputTokens: 50}
	usd, ok := llm.DefaultPrices().Cost("claude-sonnet-4-5", u)
	fmt.Printf("$%.6f %v (table %s)\n", usd, ok, llm.DefaultPrices().Version())
	_, ok = llm.DefaultPrices().Cost("my-finetune", u)
	fmt.Println(ok)
	// Output:
	// $0.002985 true (table 2026-11-25)
	// false
}
