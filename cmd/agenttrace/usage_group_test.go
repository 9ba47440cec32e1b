package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agenttrace/agenttrace/usage"
)

func TestUsageCommandBy(t *testing.T) {
	ts := startCLIServer(t, cliFixture(0))
	out, errOut, code := cli(t, nil, append([]string{"usage", "tenant", "acme", "--by", "model", "--url", ts.URL}, win...)...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `tenant           acme
organisation     default
sessions         1
window           2025-11-16 00:00:00Z to 2025-11-17 00:00:00Z
tokens           330
  input          300 (cache read 150, cache write 0)
  output         30 (reasoning 0)
requests         2
  unknown usage  0 (not in tokens or cost)
cost             $0.003

MODEL         TOKENS  INPUT  OUTPUT  REQUESTS  COST
gpt-4.1-mini  330     300    30      2         $0.003
(none)        0       0      0       0         $0.00
`, out)

	out, errOut, code = cli(t, nil, append([]string{"usage", "session", "s-1", "--by", "hour", "--limit", "1", "--json", "--url", ts.URL}, win...)...)
	require.Equal(t, 0, code, errOut)
	var su usage.SessionUsage
	require.NoError(t, json.Unmarshal([]byte(out), &su))
	require.Len(t, su.Groups, 1)
	assert.Equal(t, "2025-11-16T10:00:00Z", su.Groups[0].Key)
	assert.EqualValues(t, 3_000_000, su.Groups[0].TotalCostNanoUSD)

	_, errOut, code = cli(t, nil, append([]string{"usage", "tenant", "acme", "--by", "week", "--url", ts.URL}, win...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "week")
}

// TestUsageCommandSessionOfTwoTenants: a session id used by two tenants
// is refused without --tenant (the message names both), and --tenant
// chooses one tenant's spans.
func TestUsageCommandSessionOfTwoTenants(t *testing.T) {
	spans := cliFixture(0)
	other := spans[0]
	other.TraceID, other.SpanID, other.TenantID = tid(3), sid(3, 0), "globex" // s-1, another tenant
	other.LLMRequest, other.InputTokens, other.TotalTokens = true, 7, 7
	ts := startCLIServer(t, append(spans, other))
	_, errOut, code := cli(t, nil, append([]string{"usage", "session", "s-1", "--url", ts.URL}, win...)...)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, `"acme", "globex"`)
	out, errOut, code := cli(t, nil, append([]string{"usage", "session", "s-1", "--tenant", "globex", "--json", "--url", ts.URL}, win...)...)
	require.Equal(t, 0, code, errOut)
	var su usage.SessionUsage
	require.NoError(t, json.Unmarshal([]byte(out), &su))
	assert.EqualValues(t, 7, su.Tokens.InputTokens)
	assert.EqualValues(t, 1, su.RequestCount)
	_, errOut, code = cli(t, nil, append([]string{"usage", "tenant", "acme", "--tenant", "globex", "--url", ts.URL}, win...)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--tenant")
}
