package usage_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoRecordingImports checks the DESIGN rule that usage links nothing of
// the recording side (trace, span, batch), nor OpenTelemetry at all: a
// reporting job queries without the SDK.
func TestNoRecordingImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	const mod = "github.com/agenttrace/agenttrace/"
	found := false
	for _, d := range deps {
		found = found || d == mod+"usage"
		for _, bad := range []string{mod + "trace", mod + "span", mod + "batch", mod + "exporter", mod + "llm", "go.opentelemetry.io/"} {
			if d == bad || strings.HasPrefix(d, strings.TrimSuffix(bad, "/")+"/") {
				t.Errorf("usage depends on %s", d)
			}
		}
	}
	if !found {
		t.Fatalf("go list -deps did not list the usage package itself: %q", deps)
	}
}
