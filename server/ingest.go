package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agenttrace/agenttrace/internal/wire"
	"github.com/agenttrace/agenttrace/store"
)

// OTLP/HTTP content types.
const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

var gzipPool sync.Pool // *gzip.Reader

// readBody reads a request body of at most limit bytes, decompressing gzip
// (again at most limit bytes once decompressed) into buf.
// The bytes read are charged to g (nil: not charged) as they come.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte, g *ingestGrant) ([]byte, error) {
	var gz bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz = true
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, wire.CodeUnsupportedMedia,
			"Content-Encoding %q is not supported (use gzip or none)", enc)
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if gz {
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(body)
		} else {
			err = zr.Reset(body)
		}
		if err != nil {
			return nil, readError(err, limit)
		}
		defer gzipPool.Put(zr)
		body = zr
	}
	out, over, err := readAll(body, limit, buf, g.grow)
	if over {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, readError(err, limit)
	}
	return out, nil
}

func tooLarge(limit int64) error {
	return errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
		"request body exceeds %d bytes (as sent or decompressed)", limit)
}

func readError(err error, limit int64) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Slow client or a busy server: retryable, not the body's fault.
		return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable,
			"timed out reading the request body (the read timeout covers headers and body); retry")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	return errorf(http.StatusBadRequest, wire.CodeInvalidArgument, "cannot read request body: %v", err)
}

// decodeOTLP decodes an OTLP ExportTraceServiceRequest body.
func decodeOTLP(body []byte, json bool) (ptraceotlp.ExportRequest, error) {
	req := ptraceotlp.NewExportRequest()
	var err error
	if json {
		if err = checkJSON(body); err == nil {
			err = req.UnmarshalJSON(body)
		}
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		kind := "protobuf"
		if json {
			kind = "JSON"
		}
		return req, errorf(http.StatusBadRequest, wire.CodeInvalidArgument, "cannot decode OTLP %s body: %v", kind, err)
	}
	return req, nil
}

// handleIngest is POST /v1/traces (OTLP/HTTP). It answers 200 only once
// every accepted span is committed to the store or, with WithIngestLog,
// to the ingest log.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request, p principal) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == contentTypeJSON
	if err != nil || (ct != contentTypeProto && !isJSON) {
		return errorf(http.StatusUnsupportedMediaType, wire.CodeUnsupportedMedia,
			"Content-Type %q is not supported (use %s or %s)", r.Header.Get("Content-Type"), contentTypeProto, contentTypeJSON)
	}
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 4<<20 { // do not pin huge buffers
			bufPool.Put(bp)
		}
	}()
	g, err := s.admitIngest(r)
	if err != nil {
		return err
	}
	defer g.release()
	body, err := readBody(w, r, s.maxBody, (*bp)[:0], g)
	if err != nil {
		return err
	}
	*bp = body
	res, err := s.spansOf(body, isJSON, p.tenant)
	if err != nil {
		return err
	}
	if len(res.spans) > 0 && s.q != nil && s.q.failing() == nil {
		var flags uint8
		if isJSON {
			flags = logFlagJSON
		}
		if err := s.q.add(r.Context(), s, flags, p.tenant, body, res.spans); err != nil {
			return err
		}
	} else if len(res.spans) > 0 {
		// Without the ingest log, or while writes fail (a full disk): the
		// store's commit, before the answer, tells whether they can
		// be stored again.
		if err := s.writeNow(r, res.spans); err != nil {
			return err
		}
	}
	s.countIngest(&res)
	resp := ptraceotlp.NewExportResponse()
	if msg := res.warning(); msg != "" {
		// rejected_spans 0 with a message is OTLP's way to warn.
		resp.PartialSuccess().SetRejectedSpans(res.rejected)
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	var out []byte
	if isJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		return fmt.Errorf("encode OTLP response: %w", err)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}

// writeNow writes spans to the store and returns once they are committed.
func (s *Server) writeNow(r *http.Request, spans []store.Span) error {
	wr, err := s.st.WriteSpans(r.Context(), spans)
	if err != nil {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "request canceled")
		}
		if errors.Is(err, store.ErrInvalidSpan) {
			return errorf(http.StatusBadRequest, wire.CodeInvalidArgument, "%v", err)
		}
		s.log.Warn("cannot store spans", "spans", len(spans), "err", err)
		return errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot store spans now; retry")
	}
	s.log.Debug("ingested", "spans", len(spans), "new", wr.Inserted, "duplicates", wr.Duplicates)
	if wr.Conflicts > 0 {
		// Two sessions (users, tenants, environments) in one trace: each
		// span keeps its own, the trace keeps its root's.
		s.log.Warn("ingest: spans carry trace-level fields other than their trace's; each keeps its own",
			"fields", wr.Conflicts, "spans", len(spans))
	}
	if s.q != nil {
		s.q.setFail(nil)
	}
	return nil
}

// spansOf decodes an OTLP body and converts its spans, scoped to tenant
// (a tenant-scoped key's; "" for none).
func (s *Server) spansOf(body []byte, isJSON bool, tenant string) (convertResult, error) {
	req, err := decodeOTLP(body, isJSON)
	if err != nil {
		return convertResult{}, err
	}
	res := convert(req.Traces(), s.prices)
	if res.ignored > 0 {
		// Bad values never fail a request: the span is stored, the value
		// ignored (a lower-priority key may fill its place) and counted.
		s.log.Warn("ingest: ignored attribute values", "values", res.ignored, "first", res.ignoredMsg)
	}
	if res.nested > 0 {
		s.log.Debug("ingest: model-call spans with model-call children add nothing", "spans", res.nested)
	}
	if tenant != "" {
		for i := range res.spans {
			sp := &res.spans[i]
			switch sp.TenantID {
			case "":
				sp.TenantID = tenant
			case tenant:
			default:
				return convertResult{}, errorf(http.StatusForbidden, wire.CodePermissionDenied,
					"span %s of trace %s is for tenant %q but the API key is scoped to tenant %q; nothing was stored",
					sp.SpanID, sp.TraceID, sp.TenantID, tenant)
			}
		}
	}
	return res, nil
}
