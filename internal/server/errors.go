package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Error codes of the API's error body {"code","message"}.
const (
	CodeInvalid          = "invalid"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeExceedsQuota     = "exceeds_quota"
	CodeTooLarge         = "too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[string]int{
	CodeInvalid:          http.StatusBadRequest,
	CodeUnauthenticated:  http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeConflict:         http.StatusConflict,
	CodeExceedsQuota:     http.StatusUnprocessableEntity,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
}

// Error is an error a client is told about: a code and a message meant
// for a person. Anything else is internal: logged, never shown.
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	retryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of the error.
func (e *Error) Status() int { return statusOf[e.Code] }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errUnauthenticated never says which part of a credential was wrong.
var errUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "sign in first: send a valid token as 'Authorization: Bearer …' (POST /api/v1/login gives one)"}

var errBadLogin = &Error{Code: CodeUnauthenticated, Message: "wrong username or password"}

// asError turns any error into the Error a client sees. Kubernetes' own
// refusals pass through with their reason (the policy's message, RBAC's
// "cannot get resource"); anything unknown is internal.
func asError(err error) (e *Error, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errorf(CodeTooLarge, "the request body is larger than %d bytes", tooLarge.Limit), false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg := status.Status().Message
		switch {
		case apierrors.IsForbidden(err):
			return &Error{Code: CodeForbidden, Message: msg}, false
		case apierrors.IsNotFound(err):
			return &Error{Code: CodeNotFound, Message: msg}, false
		case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
			return &Error{Code: CodeConflict, Message: msg}, false
		case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
			return &Error{Code: CodeInvalid, Message: msg}, false
		case apierrors.IsUnauthorized(err):
			// The server's own credentials were refused: not the caller's fault.
			return &Error{Code: CodeInternal, Message: "internal error"}, true
		case apierrors.IsTooManyRequests(err):
			return &Error{Code: CodeUnavailable, Message: "Kubernetes is busy: try again"}, false
		}
	}
	return &Error{Code: CodeInternal, Message: "internal error: the server log has the details"}, true
}

// writeError renders err once: JSON for the API, a page for the UI.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := asError(err)
	if internal {
		s.Log.Error(err, "Request failed", "method", r.Method, "path", r.URL.Path)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.Code == CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tenancy"`)
	}
	if isAPI(r) {
		writeJSON(w, e.Status(), e)
		return
	}
	s.renderError(w, r, e)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

// decode reads a JSON body strictly into v: JSON only, at most maxBody
// bytes, no unknown field, one value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if strings.TrimSpace(strings.ToLower(ct)) != "application/json" {
		return errorf(CodeUnsupportedMedia, "send the body as JSON with 'Content-Type: application/json' (got %q)", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return decodeError(err)
	}
	return errorf(CodeInvalid, "the request body must hold one JSON object, and nothing after it")
}

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := err.Error()
	switch {
	case errors.As(err, &tooLarge):
		return err
	case strings.HasPrefix(msg, "json: unknown field "):
		return errorf(CodeInvalid, "unknown field %s in the request body", strings.TrimPrefix(msg, "json: unknown field "))
	case errors.As(err, &typ):
		return errorf(CodeInvalid, "field %q: expected a JSON %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.As(err, &syntax):
		return errorf(CodeInvalid, "the request body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(msg, "json: "), syntax.Offset)
	case errors.Is(err, io.EOF):
		return errorf(CodeInvalid, "the request body is empty: send a JSON object")
	}
	return errorf(CodeInvalid, "the request body is not valid JSON: %s", strings.TrimPrefix(msg, "json: "))
}
