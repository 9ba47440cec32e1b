// Package llm holds the vocabulary of model calls shared by the recording
// packages and the provider adapters: token Usage and its cost, conversation
// Messages made of Parts, ToolCalls, roles, the options of an LLM span, and
// the embedded model price table that computes a cost when the provider
// reports none.
package llm
