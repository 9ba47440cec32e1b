package budget_test

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agenttrace/agenttrace/budget"
	"github.com/agenttrace/agenttrace/llm"
	"github.com/agenttrace/agenttrace/usage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewRefusesBadAmounts(t *testing.T) {
	for _, usd := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 1e-12, 1e12} {
		l, err := budget.New(usd)
		assert.Nil(t, l)
		require.ErrorIs(t, err, budget.ErrInvalidLimit, "New(%v)", usd)
	}
	_, err := budget.NewNanoUSD(-5)
	require.ErrorIs(t, err, budget.ErrInvalidLimit)
	for name, opts := range map[string][]budget.Option{
		"threshold":  {budget.OnThreshold(func(budget.Crossing) {}, 50, -1)},
		"window":     {budget.Window(-time.Hour)},
		"no window":  {budget.FromServer(&usage.Client{}, 0)},
		"cut soft":   {budget.CutStreams()},
		"stale":      {budget.Window(time.Hour), budget.FromServer(&usage.Client{}, -time.Second)},
		"policy":     {budget.OnUnknown(7)},
		"thresh nan": {budget.OnThreshold(func(budget.Crossing) {}, math.NaN())},
	} {
		_, err := budget.New(1, opts...)
		assert.ErrorIs(t, err, budget.ErrInvalidLimit, name)
	}
	l, err := budget.New(0.5)
	require.NoError(t, err)
	assert.Equal(t, budget.NanoUSD(500_000_000), l.Amount())
	assert.Equal(t, budget.ModeSoft, l.Mode())
}

func TestNanoUSD(t *testing.T) {
	assert.Equal(t, "$0.500000000", budget.FromUSD(0.5).String())
	assert.Equal(t, "-$1.000000001", budget.NanoUSD(-1_000_000_001).String())
	assert.Equal(t, "unlimited", budget.Unlimited.String())
	assert.Equal(t, budget.NanoUSD(1), budget.FromUSD(1e-9))
	assert.Equal(t, budget.Unlimited, budget.FromUSD(1e300))
	assert.Equal(t, 0.25, budget.FromUSD(0.25).USD())
	assert.Equal(t, int64(4), budget.Tokens(10))
	assert.Equal(t, int64(0), budget.Tokens(-3))
}

// call is a gpt-4o call of at most 1,000 output tokens and a 30-byte
// prompt: worst case 10 input tokens at $2.50 and 1,000 at $10 per 1M.
var call = budget.Call{Model: "gpt-4o", Prices: llm.DefaultPrices(), InputBytes: 30, MaxOutputTokens: 1000}

const worst = budget.NanoUSD(10_025_000)

func TestSetAdmitSettle(t *testing.T) {
	var crossed []float64
	hard, err := budget.NewNanoUSD(3*worst, budget.Hard(), budget.OnThreshold(func(c budget.Crossing) { crossed = append(crossed, c.Percent) }, 10, 50))
	require.NoError(t, err)
	soft, err := budget.NewNanoUSD(100 * worst)
	require.NoError(t, err)
	tr, sess := budget.NewTracker(hard, budget.ScopeTrace, "t1"), budget.NewTracker(soft, budget.ScopeSession, "s1")
	set := budget.NewSet(tr, nil, sess)
	require.Len(t, set.Trackers(), 2)

	var adms []*budget.Admission
	for range 3 {
		a, err := set.Admit(context.Background(), call)
		require.NoError(t, err)
		w, ok := a.Estimate()
		assert.True(t, ok)
		assert.Equal(t, worst, w)
		adms = append(adms, a)
	}
	_, err = set.Admit(context.Background(), call)
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be, "three worst cases reserved: no room")
	assert.Equal(t, budget.ReasonWorstCase, be.Reason)
	assert.Equal(t, 3*worst, be.Reserved)
	assert.Contains(t, be.Error(), `trace budget "t1" exceeded (worst_case)`)

	adms[0].Settle(worst/2, true, "")
	adms[0].Settle(worst, true, "") // once only
	adms[1].Release()
	assert.Equal(t, worst/2, tr.Spent())
	assert.Equal(t, worst/2, sess.Spent())
	assert.Equal(t, []float64{10}, crossed)
	// Unknown cost with a known worst case is charged the worst case.
	adms[2].Settle(0, false, "the call's usage is unknown")
	assert.Equal(t, worst/2+worst, tr.Spent())
	assert.EqualValues(t, 1, tr.UnknownCalls())
	assert.Equal(t, []float64{10, 50}, crossed)

	// A span made by hand with unknown cost and no worst case holds the
	// budgets that refuse unknown cost.
	set.Charge(0, false, "the price table does not list the call's model")
	_, err = set.Admit(context.Background(), budget.Call{Model: "gpt-4o", Prices: llm.DefaultPrices(), MaxOutputTokens: 1})
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	assert.Contains(t, be.Error(), "price table does not list")

	var nilSet *budget.Set
	a, err := nilSet.Admit(context.Background(), call)
	assert.NoError(t, err)
	a.Settle(1, true, "") // nil-safe
	var nt *budget.Tracker
	assert.Equal(t, budget.Unlimited, nt.Remaining())
	assert.Equal(t, budget.NanoUSD(0), nt.Spent())
}

func TestWindowStartsAfresh(t *testing.T) {
	l, err := budget.NewNanoUSD(10, budget.Window(50*time.Millisecond))
	require.NoError(t, err)
	tr := budget.NewTracker(l, budget.ScopeTenant, "acme")
	set := budget.NewSet(tr)
	set.Charge(10, true, "")
	_, err = set.Admit(context.Background(), call)
	if err == nil {
		t.Skip("a window ended between the charge and the check") // rare; not on a timing
	}
	require.ErrorIs(t, err, budget.ErrExceeded)
	for range 100 { // the next window comes within 50ms; bounded
		if tr.Spent() == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, budget.NanoUSD(0), tr.Spent(), "a new window starts from zero")
	_, err = set.Admit(context.Background(), call)
	assert.NoError(t, err)
}

// A budget that reads the server refuses while the server cannot be read
// (RefuseUnknown), and lets calls through under AllowUnknown.
func TestFromServerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	uc, err := usage.NewClient("http://"+addr, usage.WithRetry(0, 0), usage.WithTimeout(time.Second))
	require.NoError(t, err)
	defer uc.CloseIdleConnections()

	refuse, err := budget.New(1, budget.Window(time.Hour), budget.FromServer(uc, time.Minute))
	require.NoError(t, err)
	tr := budget.NewTracker(refuse, budget.ScopeSession, "s1")
	assert.Error(t, tr.Refresh(context.Background()))
	_, err = budget.NewSet(tr).Admit(context.Background(), call)
	var be *budget.ExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, budget.ReasonUnknownCost, be.Reason)
	assert.Contains(t, be.Detail, "could not be read")

	allow, err := budget.New(1, budget.Window(time.Hour), budget.FromServer(uc, time.Minute), budget.OnUnknown(budget.AllowUnknown))
	require.NoError(t, err)
	_, err = budget.NewSet(budget.NewTracker(allow, budget.ScopeSession, "s1")).Admit(context.Background(), call)
	assert.NoError(t, err)
}

// Check, reserve and settle from many goroutines: the hard limit holds
// exactly when calls cost their worst case, and each threshold fires once.
func TestConcurrentHardLimit(t *testing.T) {
	var fired sync.Map
	l, err := budget.NewNanoUSD(7*worst+worst/2, budget.Hard(), budget.OnThreshold(func(c budget.Crossing) {
		_, dup := fired.LoadOrStore(c.Percent, true)
		assert.False(t, dup, "threshold %v fired twice", c.Percent)
	}))
	require.NoError(t, err)
	tr := budget.NewTracker(l, budget.ScopeTrace, "t")
	set := budget.NewSet(tr)
	var admitted sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 32 {
		admitted.Go(func() {
			for range 50 {
				a, err := set.Admit(context.Background(), call)
				if err != nil {
					if !errors.Is(err, budget.ErrExceeded) {
						t.Error(err)
					}
					continue
				}
				mu.Lock()
				n++
				mu.Unlock()
				a.Settle(worst, true, "")
			}
		})
	}
	admitted.Wait()
	assert.Equal(t, 7, n, "exactly the calls whose worst case fits")
	assert.Equal(t, 7*worst, tr.Spent())
	for _, p := range []float64{50, 80} {
		_, ok := fired.Load(p)
		assert.True(t, ok, "threshold %v fired", p)
	}
}
