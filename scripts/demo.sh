#!/usr/bin/env bash
# make demo: the whole agenttrace loop on one machine, with nothing but Go.
#
# Builds the agenttrace command into a temporary directory, starts
# "agenttrace serve" on 127.0.0.1 (a free port) over a temporary SQLite
# database, records two conversations of examples/support_agent against it,
# then queries the session's and the tenant's usage, the traces and the
# spans of a trace with the agenttrace CLI, and stops the server (unless
# DEMO_KEEP=1). It fails if the demo session shows no tokens or no cost,
# and ends by printing the trace viewer's URL of the demo's trace.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SESSION=s-demo
TENANT=AceTech
# Settings from the caller's environment must not change what the demo shows.
unset AGENTTRACE_API_KEY AGENTTRACE_API_KEYS AGENTTRACE_DISABLED AGENTTRACE_URL

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agenttrace-demo.XXXXXX")
server_pid=""

cleanup() {
	local status=$?
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ $status -ne 0 && -s "$tmp/serve.log" ]]; then
		echo "--- agenttrace serve log ---" >&2
		cat "$tmp/serve.log" >&2
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n==> %s\n' "$*"; }
fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step "building agenttrace"
"$GO" build -o "$tmp/agenttrace" ./cmd/agenttrace
at=$tmp/agenttrace

step "starting agenttrace serve on 127.0.0.1 over a temporary database"
"$at" serve --addr 127.0.0.1:0 --db "$tmp/demo.db" --log-level warn >"$tmp/serve.out" 2>"$tmp/serve.log" &
server_pid=$!

# The server prints its address once it listens (port 0: a free one).
url=""
for _ in $(seq 1 200); do
	url=$(sed -n 's/^agenttrace: listening on //p' "$tmp/serve.out")
	[[ -n "$url" ]] && break
	kill -0 "$server_pid" 2>/dev/null || fail "agenttrace serve exited"
	sleep 0.1
done
[[ -n "$url" ]] || fail "agenttrace serve did not start within 20 s"

# Wait for /healthz, with bash's /dev/tcp so that curl is not needed.
hostport=${url#http://}
healthy=""
for _ in $(seq 1 50); do
	if exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; then
		printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3
		line=""
		IFS= read -r -t 5 line <&3 || true
		exec 3<&- 3>&-
		if [[ $line == *" 200 "* ]]; then
			healthy=1
			break
		fi
	fi 2>/dev/null
	sleep 0.1
done
[[ -n "$healthy" ]] || fail "$url/healthz did not answer 200"
echo "agenttrace serve is up at $url"
export AGENTTRACE_URL=$url

step "recording two support-agent conversations: go run ./examples/support_agent"
"$GO" run ./examples/support_agent -endpoint "$url" -session "$SESSION" -tenant "$TENANT" -traces 2 | tee "$tmp/agent.out"
trace_id=$(sed -n 's/^trace_id=//p' "$tmp/agent.out" | tail -n 1)
[[ -n "$trace_id" ]] || fail "the example agent printed no trace id"

step "session usage: agenttrace usage session $SESSION"
"$at" usage session "$SESSION"

step "tenant usage: agenttrace usage tenant $TENANT"
"$at" usage tenant "$TENANT"

step "traces of the session: agenttrace traces --session $SESSION"
"$at" traces --session "$SESSION"

step "spans of the last trace: agenttrace spans $trace_id"
"$at" spans "$trace_id"

# The checks: the session and the tenant show tokens, requests and cost.
read -r tokens requests nano <<<"$("$at" usage session "$SESSION" --format '{{.TokenCount}} {{.RequestCount}} {{.TotalCostNanoUSD}}')"
read -r t_tokens t_nano <<<"$("$at" usage tenant "$TENANT" --format '{{.TokenCount}} {{.TotalCostNanoUSD}}')"
n_traces=$("$at" traces --session "$SESSION" --all --format '{{.ID}}' | wc -l)
((tokens > 0)) || fail "session $SESSION shows no tokens"
((nano > 0)) || fail "session $SESSION shows no cost"
((requests > 0)) || fail "session $SESSION shows no LLM requests"
((t_tokens == tokens && t_nano == nano)) || fail "tenant $TENANT ($t_tokens tokens, $t_nano nano-USD) differs from its only session ($tokens, $nano)"
((n_traces == 2)) || fail "want 2 traces of session $SESSION, got $n_traces"

step "usage by model: agenttrace usage tenant $TENANT --by model"
"$at" usage tenant "$TENANT" --by model

# The viewer serves the demo trace's page (the data comes from the API in
# the browser; here only that the page is there).
page_status=""
if exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; then
	printf 'GET /traces/%s HTTP/1.0\r\nHost: %s\r\n\r\n' "$trace_id" "$hostport" >&3
	IFS= read -r -t 5 page_status <&3 || true
	exec 3<&- 3>&-
fi 2>/dev/null
[[ $page_status == *" 200 "* ]] || fail "the viewer's page of trace $trace_id did not answer 200 ($page_status)"

step "an agent loop stopped by its \$0.05 budget: go run ./examples/budget"
"$GO" run ./examples/budget -endpoint "$url" -session s-budget | tee "$tmp/budget.out"
grep -q '^stopped by the budget' "$tmp/budget.out" || fail "the budget example was not stopped by its budget"
"$at" usage session s-budget
b_nano=$("$at" usage session s-budget --format '{{.TotalCostNanoUSD}}')
((b_nano > 0 && b_nano <= 50000000)) || fail "session s-budget spent $b_nano nano-USD, want some and at most the \$0.05 budget"

cost=$("$at" usage session "$SESSION" --format '{{usd .TotalCostNanoUSD}}')
step "demo OK: session $SESSION used $tokens tokens in $requests LLM requests, costing $cost"
echo "trace viewer: $url/traces/$trace_id"
if [[ ${DEMO_KEEP:-} == 1 ]]; then
	echo "serving until Ctrl-C (DEMO_KEEP=1)"
	wait "$server_pid"
else
	echo "(the demo's server stops now; DEMO_KEEP=1 make demo keeps it serving)"
fi
