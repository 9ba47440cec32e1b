package budget

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/agenttrace/agenttrace/usage"
)

// NanoUSD is an amount of money in billionths of a US dollar, the exact
// integer the agenttrace server sums costs in.
type NanoUSD int64

// Unlimited is what Remaining reports when no budget applies.
const Unlimited NanoUSD = math.MaxInt64

// nanosPerUSD is the number of NanoUSD in one dollar.
const nanosPerUSD = 1e9

// FromUSD converts dollars to NanoUSD, rounded to the nearest nano-USD (the
// server's rounding of a span's agenttrace.usage.cost_usd). Values beyond
// the int64 range saturate.
func FromUSD(usd float64) NanoUSD {
	switch {
	case math.IsNaN(usd):
		return 0
	case usd >= float64(math.MaxInt64)/nanosPerUSD:
		return Unlimited
	case usd <= float64(math.MinInt64)/nanosPerUSD:
		return math.MinInt64
	}
	return NanoUSD(math.Round(usd * nanosPerUSD))
}

// USD returns n in dollars.
func (n NanoUSD) USD() float64 { return float64(n) / nanosPerUSD }

// String formats n as dollars with nine decimals, such as "$0.500000000".
func (n NanoUSD) String() string {
	if n == Unlimited {
		return "unlimited"
	}
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	frac := strconv.FormatUint(u%1e9, 10)
	for len(frac) < 9 {
		frac = "0" + frac
	}
	return sign + "$" + strconv.FormatUint(u/1e9, 10) + "." + frac
}

// Mode says when a Limit refuses a call.
type Mode uint8

const (
	// ModeSoft refuses a call once the budget is spent (the default).
	ModeSoft Mode = iota
	// ModeHard also refuses a call whose worst case would not fit in what
	// is left (option Hard).
	ModeHard
)

// UnknownPolicy says what a Limit does with calls whose cost cannot be
// known (see the package documentation).
type UnknownPolicy uint8

const (
	// RefuseUnknown refuses calls of unknown price and holds the budget
	// after a call of unknown cost that no worst case bounds (the
	// default).
	RefuseUnknown UnknownPolicy = iota
	// AllowUnknown sends them, counts them and charges nothing for them.
	AllowUnknown
)

// ErrInvalidLimit is wrapped by New's errors.
var ErrInvalidLimit = errors.New("budget: invalid limit")

// DefaultThresholds are the percentages of a limit at which OnThreshold's
// callback fires when none are given.
var DefaultThresholds = []float64{50, 80, 100}

// DefaultMaxStale is how old the server's figure may be with FromServer
// when no staleness is given.
const DefaultMaxStale = 5 * time.Second

// Limit is a budget: an amount and the rules it is enforced by. Make it
// with New; a Limit is immutable and may be shared by many traces (each
// trace, session or tenant gets its own Tracker of it). A nil *Limit is no
// budget.
type Limit struct {
	amount     NanoUSD
	mode       Mode
	unknown    UnknownPolicy
	thresholds []float64
	onCross    func(Crossing)
	window     time.Duration
	server     *usage.Client
	maxStale   time.Duration
	cutStreams bool
}

// Option configures a Limit.
type Option func(*Limit)

// Hard makes the limit refuse a call whose worst case (input estimate plus
// its maximum output, at the model's price) would not fit in what is left.
func Hard() Option { return func(l *Limit) { l.mode = ModeHard } }

// OnUnknown sets the policy for calls of unknown cost (default
// RefuseUnknown).
func OnUnknown(p UnknownPolicy) Option { return func(l *Limit) { l.unknown = p } }

// OnThreshold calls fn once for each percentage of the limit the spend
// reaches (DefaultThresholds when none are given), per Tracker and window.
// fn runs on the goroutine whose call's cost crossed the threshold, after
// the Tracker's state is updated; it must not block for long.
func OnThreshold(fn func(Crossing), percents ...float64) Option {
	return func(l *Limit) {
		l.onCross = fn
		l.thresholds = append([]float64(nil), percents...)
	}
}

// Window makes the budget count spend per fixed period d, aligned to
// multiples of d since the zero time in UTC (24h: each UTC day; 1h: each
// hour). When a window ends, the Tracker starts the next one from zero:
// spend, thresholds and a hold on unknown cost are reset. Without Window a
// budget lasts as long as its Tracker.
func Window(d time.Duration) Option { return func(l *Limit) { l.window = d } }

// FromServer makes a session or tenant budget also count what the
// agenttrace server behind c holds for that session or tenant in the
// current window (Window is then required): its total_cost_nano_usd, and,
// under RefuseUnknown, its unknown_usage_count. The server's figure is read
// before a call when the one held is older than maxStale
// (DefaultMaxStale for 0), at most one read at a time per Tracker; the
// calls waiting meanwhile use its answer. So the spend a call is checked
// against misses at most maxStale of other processes' spending, plus what
// the server had not received yet (spans still in an exporter's batch).
//
// Spans of this process that reached the server are in both figures; the
// Tracker counts them once: spent = max(local, server + local since the
// server's answer). When the server cannot be read, the last figure read
// is used; before any could be read, the server's part counts as unknown
// cost (see OnUnknown). On a trace budget FromServer is ignored.
func FromServer(c *usage.Client, maxStale time.Duration) Option {
	return func(l *Limit) {
		l.server = c
		l.maxStale = maxStale
	}
}

// CutStreams makes a hard limit end a stream whose output, as it is read,
// would take the spend past the limit (see the package documentation).
func CutStreams() Option { return func(l *Limit) { l.cutStreams = true } }

// New returns a Limit of usd US dollars (rounded to the nano-USD). A zero,
// negative, NaN or infinite amount, or one that rounds to zero nano-USD,
// is an error wrapping ErrInvalidLimit, as are invalid options.
func New(usd float64, opts ...Option) (*Limit, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) {
		return nil, fmt.Errorf("%w: amount %v is not a finite number of US dollars", ErrInvalidLimit, usd)
	}
	if usd <= 0 {
		return nil, fmt.Errorf("%w: amount %v must be positive", ErrInvalidLimit, usd)
	}
	if usd >= float64(math.MaxInt64)/nanosPerUSD {
		return nil, fmt.Errorf("%w: amount %v is too large (at most %v US dollars)", ErrInvalidLimit, usd, float64(math.MaxInt64)/nanosPerUSD)
	}
	return NewNanoUSD(FromUSD(usd), opts...)
}

// NewNanoUSD is New with an exact amount in nano-USD.
func NewNanoUSD(amount NanoUSD, opts ...Option) (*Limit, error) {
	if amount <= 0 {
		return nil, fmt.Errorf("%w: amount %d nano-USD must be positive", ErrInvalidLimit, int64(amount))
	}
	l := &Limit{amount: amount}
	for _, o := range opts {
		if o != nil {
			o(l)
		}
	}
	if l.onCross != nil && len(l.thresholds) == 0 {
		l.thresholds = append([]float64(nil), DefaultThresholds...)
	}
	for _, p := range l.thresholds {
		if math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 {
			return nil, fmt.Errorf("%w: threshold %v%% must be a positive finite percentage", ErrInvalidLimit, p)
		}
	}
	switch {
	case l.window < 0:
		return nil, fmt.Errorf("%w: Window(%v) is negative", ErrInvalidLimit, l.window)
	case l.maxStale < 0:
		return nil, fmt.Errorf("%w: FromServer staleness %v is negative", ErrInvalidLimit, l.maxStale)
	case l.server != nil && l.window == 0:
		return nil, fmt.Errorf("%w: FromServer needs Window (the period the server's spend is read for)", ErrInvalidLimit)
	case l.cutStreams && l.mode != ModeHard:
		return nil, fmt.Errorf("%w: CutStreams needs Hard", ErrInvalidLimit)
	case l.unknown > AllowUnknown:
		return nil, fmt.Errorf("%w: unknown policy %d", ErrInvalidLimit, l.unknown)
	case l.mode > ModeHard:
		return nil, fmt.Errorf("%w: mode %d", ErrInvalidLimit, l.mode)
	}
	if l.server != nil && l.maxStale == 0 {
		l.maxStale = DefaultMaxStale
	}
	return l, nil
}

// Amount returns the limit's amount (0 for a nil Limit).
func (l *Limit) Amount() NanoUSD {
	if l == nil {
		return 0
	}
	return l.amount
}

// Mode returns the limit's mode.
func (l *Limit) Mode() Mode {
	if l == nil {
		return ModeSoft
	}
	return l.mode
}

// Crossing is a threshold of a budget that its spend reached.
type Crossing struct {
	Scope   Scope
	ID      string
	Percent float64
	Limit   NanoUSD
	Spent   NanoUSD
}
