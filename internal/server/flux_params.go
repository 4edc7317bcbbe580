package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// fluxSubmission turns the parameters of a Flux submit (POST
// /v1/jobs/submit: query parameters, as flux-restful-client 0.2 sends
// them, or a form or JSON body, as older clients did) into a Tenancy
// submission. nodes is how many nodes the workspace can schedule on (for
// num_nodes). The errors are in Flux's words: each names the parameter.
func fluxSubmission(q url.Values, nodes int) (jobs.Submission, []string) {
	var sub jobs.Submission
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	integer := func(name string, least int64) (int64, bool) {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad("Parameter %s must be an integer, got %q", name, v)
			return 0, false
		}
		if n < least {
			bad("Parameter %s must be >= %d, got %d", name, least, n)
			return 0, false
		}
		return n, true
	}
	boolean := func(name string) bool {
		v := strings.ToLower(strings.TrimSpace(q.Get(name)))
		switch v {
		case "", "0", "false", "no", "off", "none":
			return false
		case "1", "true", "yes", "on":
			return true
		}
		bad("Parameter %s must be true or false, got %q", name, q.Get(name))
		return false
	}

	command := q.Get("command")
	if strings.TrimSpace(command) == "" {
		bad("'command' is required.")
	} else if words, err := shellSplit(command); err != nil {
		bad("'command' %q cannot be split into words: %v", command, err)
	} else {
		sub.Command = words
	}
	if n, ok := integer("num_tasks", 1); ok {
		if n > jobs.MaxTasks {
			bad("Parameter num_tasks must be <= %d, got %d", jobs.MaxTasks, n)
		} else {
			sub.Tasks = int32(n)
		}
	}
	if n, ok := integer("cores_per_task", 1); ok {
		sub.Resources.CPU = resource.NewQuantity(n, resource.DecimalSI)
	}
	if n, ok := integer("gpus_per_task", 0); ok {
		sub.Resources.GPU = n
	}
	if n, ok := integer("num_nodes", 1); ok && n > int64(nodes) {
		bad("The workspace can only schedule on %d nodes, you requested %d", nodes, n)
	}
	if d, err := fluxDuration(q.Get("runtime")); err != nil {
		bad("Parameter runtime: %v", err)
	} else {
		sub.TimeLimit = d
	}
	if w := q.Get("workdir"); w != "" {
		sub.Workdir = path.Clean(w)
		if !strings.HasPrefix(w, "/") {
			bad("Parameter workdir must be an absolute path, got %q", w)
		}
	}
	if env, err := parseEnvars(q["envars"]); err != nil {
		bad("Environment variables must be key/value pairs (dict): %v", err)
	} else {
		sub.Env = env
	}
	// What Flux has and Kubernetes does not: refused, not ignored, so a
	// job never runs other than asked.
	if boolean("exclusive") {
		bad("Parameter exclusive is not supported: Kubernetes shares nodes between pods; ask for whole-node resources with cores_per_task instead")
	}
	if f := strings.TrimSpace(q.Get("option_flags")); f != "" && f != "{}" && f != "None" && f != "null" {
		bad("Parameter option_flags is not supported: there is no Flux job shell to take shell options")
	}
	if boolean("is_launcher") {
		bad("Parameter is_launcher is not supported: there is no Snakemake or Nextflow launcher; submit the workflow's command instead")
	}
	if len(errs) > 0 {
		return sub, errs
	}
	if err := sub.Validate(); err != nil {
		if fe, ok := errors.AsType[*jobs.FieldError](err); ok {
			return sub, []string{fluxParam(fe.Field) + ": " + fe.Message}
		}
		return sub, []string{err.Error()}
	}
	return sub, nil
}

// fluxParam is the Flux parameter a Tenancy submission field comes from.
func fluxParam(field string) string {
	switch field {
	case "tasks":
		return "num_tasks"
	case "resources.cpu":
		return "cores_per_task"
	case "resources.gpu":
		return "gpus_per_task"
	case "timeLimit":
		return "runtime"
	case "env":
		return "envars"
	}
	return field
}

// fluxDuration reads Flux's runtime: seconds (a number), or Flux Standard
// Duration ("30s", "5m", "2h", "1d"); zero or empty means unlimited.
func fluxDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	unit := time.Second
	if n := len(v); n > 1 {
		switch v[n-1] {
		case 's':
			v = v[:n-1]
		case 'm':
			v, unit = v[:n-1], time.Minute
		case 'h':
			v, unit = v[:n-1], time.Hour
		case 'd':
			v, unit = v[:n-1], 24*time.Hour
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a duration: give seconds, or a number with s, m, h or d (e.g. 90 or 5m)", v)
	}
	if f < 0 {
		return 0, fmt.Errorf("must be >= 0, got %v", f)
	}
	if f*float64(unit) > float64(365*24*time.Hour) {
		return 0, fmt.Errorf("%v is longer than a year", f)
	}
	d := time.Duration(f * float64(unit))
	if d > 0 && d < time.Second {
		d = time.Second
	}
	return d.Round(time.Second), nil
}

// parseEnvars reads the envars of a submit, in every form a Flux client
// may send them: a JSON object ({"A": "1"}), the Python repr of a dict
// that an HTTP library makes of one in a query string ({'A': '1'}), or
// NAME=VALUE pairs, repeated or separated by commas.
func parseEnvars(values []string) (map[string]string, error) {
	env := map[string]string{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch {
		case v == "" || v == "{}" || v == "None" || v == "null":
		case strings.HasPrefix(v, "{"):
			m, err := parseDict(v)
			if err != nil {
				return nil, err
			}
			maps.Copy(env, m)
		default:
			for pair := range strings.SplitSeq(v, ",") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("%q is not NAME=VALUE", pair)
				}
				env[k] = val
			}
		}
	}
	if len(env) == 0 {
		return nil, nil
	}
	return env, nil
}

// parseDict reads a JSON object, or a Python dict literal of strings and
// numbers, into string values.
func parseDict(v string) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(v), &raw); err == nil {
		out := map[string]string{}
		for k, x := range raw {
			switch x := x.(type) {
			case string:
				out[k] = x
			case float64, bool:
				out[k] = fmt.Sprint(x)
			default:
				return nil, fmt.Errorf("the value of %q is not a string or number", k)
			}
		}
		return out, nil
	}
	return parsePyDict(v)
}

// parsePyDict reads {'K': 'V', 'N': 1}: Python's repr of a dict of
// strings and numbers.
func parsePyDict(s string) (map[string]string, error) {
	p := &pyLexer{s: s}
	out := map[string]string{}
	if !p.eat('{') {
		return nil, errors.New("expected a dict such as {\"NAME\": \"value\"}")
	}
	if p.eat('}') {
		return out, p.end()
	}
	for {
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.eat(':') {
			return nil, fmt.Errorf("expected ':' after %q", k)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out[k] = v
		if p.eat('}') {
			return out, p.end()
		}
		if !p.eat(',') {
			return nil, fmt.Errorf("expected ',' or '}' after %q", v)
		}
	}
}

type pyLexer struct {
	s string
	i int
}

func (p *pyLexer) skip() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyLexer) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLexer) end() error {
	p.skip()
	if p.i != len(p.s) {
		return fmt.Errorf("unexpected %q after the dict", p.s[p.i:])
	}
	return nil
}

// value is a quoted string (with Python's simple escapes) or a bare number.
func (p *pyLexer) value() (string, error) {
	p.skip()
	if p.i >= len(p.s) {
		return "", errors.New("the dict ends too early")
	}
	q := p.s[p.i]
	if q != '\'' && q != '"' {
		j := p.i
		for j < len(p.s) && strings.IndexByte("0123456789.-+eE", p.s[j]) >= 0 {
			j++
		}
		if j == p.i {
			return "", fmt.Errorf("expected a quoted string at %q", p.s[p.i:])
		}
		v := p.s[p.i:j]
		p.i = j
		return v, nil
	}
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			switch e := p.s[p.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("a string in the dict is not closed")
}

// shellSplit splits a command line into words as Python's shlex.split
// does (which is what Flux does with a submitted command): whitespace
// separates words; single quotes keep everything; double quotes keep all
// but \\, \", \$ and \` escapes; a backslash outside quotes escapes the
// next character.
func shellSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, errors.New("it ends with a lone backslash")
			}
			i++
			cur.WriteByte(s[i])
		case '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("a double quote is not closed")
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// shellJoin quotes words for shellSplit (a JSON body may send the command
// as a list).
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\r\n'\"\\$`;&|<>()*?[]#~!{}") {
			out[i] = w
			continue
		}
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// valuesOfJSON turns a JSON body of an older Flux client into the same
// parameters: strings as they are, numbers and booleans spelled out, a
// command list quoted, an envars object as JSON.
func valuesOfJSON(body map[string]any) (url.Values, error) {
	q := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		switch v := body[k].(type) {
		case nil:
		case string:
			q.Set(k, v)
		case bool:
			q.Set(k, strconv.FormatBool(v))
		case json.Number:
			q.Set(k, v.String())
		case []any:
			if k != "command" {
				return nil, fmt.Errorf("%s: a list is only accepted for command", k)
			}
			words := make([]string, len(v))
			for i, w := range v {
				s, ok := w.(string)
				if !ok {
					s = fmt.Sprint(w)
				}
				words[i] = s
			}
			q.Set(k, shellJoin(words))
		case map[string]any:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			q.Set(k, string(raw))
		default:
			return nil, fmt.Errorf("%s: unexpected %T", k, v)
		}
	}
	return q, nil
}
