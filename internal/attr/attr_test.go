package attr_test

import (
	"testing"

	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/agenttrace/agenttrace/internal/attr"
)

// TestOperationValuesMatchSemconv keeps the operation names in step with
// the GenAI semantic conventions the rest of the ecosystem writes.
func TestOperationValuesMatchSemconv(t *testing.T) {
	for _, c := range []struct {
		ours   string
		theirs string
	}{
		{attr.OpChat, semconv.GenAIOperationNameChat.Value.AsString()},
		{attr.OpTextCompletion, semconv.GenAIOperationNameTextCompletion.Value.AsString()},
		{attr.OpGenerateContent, semconv.GenAIOperationNameGenerateContent.Value.AsString()},
		{attr.OpEmbeddings, semconv.GenAIOperationNameEmbeddings.Value.AsString()},
		{attr.OpExecuteTool, semconv.GenAIOperationNameExecuteTool.Value.AsString()},
		{attr.OpInvokeAgent, semconv.GenAIOperationNameInvokeAgent.Value.AsString()},
		{attr.OpInvokeWorkflow, semconv.GenAIOperationNameInvokeWorkflow.Value.AsString()},
		{attr.OpRetrieval, semconv.GenAIOperationNameRetrieval.Value.AsString()},
	} {
		if c.ours != c.theirs {
			t.Errorf("operation %q, semconv says %q", c.ours, c.theirs)
		}
	}
	if string(attr.ServiceName) != "service.name" {
		t.Errorf("ServiceName = %q, want service.name", attr.ServiceName)
	}
}
