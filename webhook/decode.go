package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/services"
)

// Limits on the content of a payload. See the package documentation.
const (
	// DefaultMaxBodyBytes is the default largest request body.
	DefaultMaxBodyBytes = 1 << 20
	// MaxServiceBytes is the longest service name.
	MaxServiceBytes = 128
	// MaxLabels is the most labels an alert may have; MaxAnnotations the
	// most annotations.
	MaxLabels      = 64
	MaxAnnotations = 64
	// MaxNameBytes is the longest label or annotation name.
	MaxNameBytes = 256
	// MaxLabelValueBytes is the longest label value, and the longest
	// generatorURL.
	MaxLabelValueBytes = 4 << 10
	// MaxAnnotationValueBytes is the longest annotation value.
	MaxAnnotationValueBytes = 16 << 10
	// MaxGroupKeyBytes is the longest groupKey.
	MaxGroupKeyBytes = 16 << 10

	// OwnLabel is the label, set to "true", that marks the alerts Claude Ops
	// pushed itself.
	OwnLabel = "claudeops"

	// Version is the only webhook payload version accepted.
	Version = "4"

	// StatusFiring and StatusResolved are the statuses of an alert.
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// DefaultServiceLabels are the labels that name an alert's service when
// [Config.ServiceLabels] is empty: the first one present wins.
var DefaultServiceLabels = []string{"service", "container", "job"}

// Message is what Claude Ops reads of Alertmanager's webhook payload
// (notify/webhook.Message, which this package does not import: it pulls in
// most of Alertmanager). The group and common labels and annotations of
// template.Data are left out: every alert carries its own, and decoding
// them was a third of the cost of a request in a storm.
type Message struct {
	Receiver           string         `json:"receiver"`
	Status             string         `json:"status"`
	Alerts             []PayloadAlert `json:"alerts"`
	NotificationReason string         `json:"notification_reason"`
	ExternalURL        string         `json:"externalURL"`

	// Version is the payload version, "4".
	Version string `json:"version"`
	// GroupKey identifies the aggregation group the alerts belong to.
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts is how many alerts Alertmanager left out because of
	// the receiver's max_alerts.
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// PayloadAlert is an alert of the payload as Alertmanager sends it
// (template.Alert), its labels and annotations read straight into label
// sets: no map is made for them.
type PayloadAlert struct {
	Status       string    `json:"status"`
	Labels       LabelSet  `json:"labels"`
	Annotations  LabelSet  `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
}

// Alert is one validated alert of a notification, as handed to a [Sink].
// Labels and Annotations are data to show, never instructions to follow.
type Alert struct {
	// Service is the value of the first service label present, which
	// satisfies [ValidServiceName], as services.Canonical spells it. Empty
	// only for our own alerts.
	Service string
	// Status is StatusFiring or StatusResolved.
	Status string
	// Fingerprint is Alertmanager's fingerprint of the labels, 16 lowercase
	// hex digits; computed from the labels if the payload lacked it.
	Fingerprint      string
	StartsAt, EndsAt time.Time
	Labels           labels.Labels
	Annotations      labels.Labels
	GeneratorURL     string
	// Ours reports the label claudeops="true": an alert Claude Ops pushed
	// itself. The Handler never queues such alerts, so a Sink never sees
	// Ours set.
	Ours bool
	// GroupKey is the notification's group key.
	GroupKey string
}

// Key identifies an alert for deduplication: its fingerprint, startsAt and
// status; a comparable value of 24 bytes.
type Key struct {
	Fingerprint uint64
	StartsAt    int64 // Unix seconds
	Nanos       int32 // and nanoseconds
	Resolved    bool
}

// Key returns the alert's Key. Fingerprint holds 16 hex digits (Decode
// made sure of it).
func (a *Alert) Key() Key {
	fp, _ := strconv.ParseUint(a.Fingerprint, 16, 64)
	return Key{Fingerprint: fp, StartsAt: a.StartsAt.Unix(), Nanos: int32(a.StartsAt.Nanosecond()), Resolved: a.Status == StatusResolved}
}

// String spells the key as fingerprint|startsAt (UTC, RFC 3339 with
// nanoseconds)|status.
func (k Key) String() string {
	status := StatusFiring
	if k.Resolved {
		status = StatusResolved
	}
	return fmt.Sprintf("%016x|%s|%s", k.Fingerprint, time.Unix(k.StartsAt, int64(k.Nanos)).UTC().Format(time.RFC3339Nano), status)
}

// RequestError is a rejection of a request: an HTTP status code and a
// one-line reason.
type RequestError struct {
	Code   int
	Reason string
}

func (e *RequestError) Error() string { return e.Reason }

func reject(code int, format string, args ...any) *RequestError {
	return &RequestError{Code: code, Reason: oneLine(fmt.Sprintf(format, args...))}
}

// ValidServiceName reports whether s may name a service: 1 to
// MaxServiceBytes bytes of [A-Za-z0-9_.:-], starting with a letter or digit.
func ValidServiceName(s string) bool {
	if s == "" || len(s) > MaxServiceBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Reasons an alert is rejected alone, the reason label of
// claudeops_webhook_alerts_rejected_total. Each is a rule of Claude Ops the
// alert's content breaks (the 422 class); the other alerts of its
// notification are still accepted.
const (
	RejectNoService           = "no_service"      // none of the service labels is set
	RejectInvalidService      = "invalid_service" // the service label is not a valid service name
	RejectTooManyLabels       = "too_many_labels" // more than MaxLabels labels
	RejectInvalidLabel        = "invalid_label"   // a label name or value breaks the rules
	RejectTooManyAnnotations  = "too_many_annotations"
	RejectInvalidAnnotation   = "invalid_annotation" // an annotation name or value breaks the rules
	RejectInvalidGeneratorURL = "invalid_generator_url"
)

// RejectReasons lists every reason, for pre-initialising metric series.
var RejectReasons = []string{
	RejectNoService, RejectInvalidService, RejectTooManyLabels, RejectInvalidLabel,
	RejectTooManyAnnotations, RejectInvalidAnnotation, RejectInvalidGeneratorURL,
}

// Rejected is an alert of a notification that was left out, alone, because
// its content breaks a rule of Claude Ops.
type Rejected struct {
	// Index is the alert's position in the notification.
	Index int
	// Alertname is the alert's alertname, clipped to 64 bytes; Fingerprint
	// its fingerprint (16 lowercase hex digits).
	Alertname, Fingerprint string
	// Reason is one of the Reject* constants.
	Reason string
	// Detail is a one-line explanation naming the alert by index and
	// alertname, e.g. `alert 2 ("DiskFull"): no service label (one of
	// service, container, job)`.
	Detail string
}

// Decode parses and validates a webhook payload. It returns the message, the
// usable alerts in payload order, our own included (Ours set), and the
// alerts rejected alone. serviceLabels names the labels that name a service,
// first present wins; nil means [DefaultServiceLabels].
//
// A payload that is not an Alertmanager notification, or whose groupKey is
// unusable, yields a *[RequestError] (400 or 422) and nothing else. An alert
// that is part of a notification but breaks a rule of Claude Ops (no or an
// invalid service label, too many or invalid labels or annotations, an
// invalid generatorURL) is rejected alone; when no alert is usable, Decode
// returns the rejected alerts and a 422 *[RequestError]. The rules are in the
// package documentation.
func Decode(body []byte, serviceLabels []string) (*Message, []Alert, []Rejected, error) {
	if len(serviceLabels) == 0 {
		serviceLabels = DefaultServiceLabels
	}
	var m Message
	// JSON v2 (the prototype of Go's encoding/json/v2): a third of
	// encoding/json's time and allocations on a notification, and stricter:
	// duplicate names, bytes that are not UTF-8 and names that differ from
	// the payload's only in case are refused or ignored, not guessed at.
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, nil, reject(http.StatusBadRequest, "malformed JSON: %s", clip(err.Error(), 200))
	}
	switch {
	case m.Version == "":
		return nil, nil, nil, reject(http.StatusBadRequest, "missing version, want %q", Version)
	case m.Version != Version:
		return nil, nil, nil, reject(http.StatusBadRequest, "unsupported version %q, want %q", clip(m.Version, 16), Version)
	case len(m.Alerts) == 0:
		return nil, nil, nil, reject(http.StatusBadRequest, "no alerts")
	}
	if err := checkText(m.GroupKey, MaxGroupKeyBytes, false); err != "" {
		return nil, nil, nil, reject(http.StatusUnprocessableEntity, "groupKey: %s", err)
	}
	alerts := make([]Alert, 0, len(m.Alerts))
	var rejected []Rejected
	for i := range m.Alerts {
		var a Alert
		bad, err := decodeAlert(&a, &m.Alerts[i], i, serviceLabels)
		if err != nil {
			return nil, nil, nil, err
		}
		if bad != nil {
			rejected = append(rejected, *bad)
			continue
		}
		a.GroupKey = m.GroupKey
		alerts = append(alerts, a)
	}
	if len(alerts) == 0 {
		r := rejected[0]
		if len(rejected) == 1 {
			return nil, nil, rejected, &RequestError{Code: http.StatusUnprocessableEntity, Reason: r.Detail}
		}
		return nil, nil, rejected, reject(http.StatusUnprocessableEntity, "no usable alert: %d alerts rejected, the first: %s", len(rejected), r.Detail)
	}
	return &m, alerts, rejected, nil
}

// decodeAlert validates alert i. A payload that is not a notification is an
// error; an alert that breaks a rule of Claude Ops is a rejection.
func decodeAlert(out *Alert, in *PayloadAlert, i int, serviceLabels []string) (*Rejected, *RequestError) {
	if in.Status != StatusFiring && in.Status != StatusResolved {
		return nil, reject(http.StatusBadRequest, "alert %d: status %q is neither %s nor %s", i, clip(in.Status, 32), StatusFiring, StatusResolved)
	}
	if in.Labels.IsEmpty() {
		return nil, reject(http.StatusBadRequest, "alert %d: no labels", i)
	}
	name := in.Labels.Get(string(model.AlertNameLabel))
	if name == "" {
		return nil, reject(http.StatusBadRequest, "alert %d: no %s label", i, model.AlertNameLabel)
	}
	// From here on, name the alert by index and alertname; the alertname is
	// quoted, so a hostile one cannot break the line.
	fail := func(code int, format string, args ...any) *RequestError {
		return reject(code, "alert %d (%q): %s", i, clip(name, 64), fmt.Sprintf(format, args...))
	}
	if in.StartsAt.IsZero() {
		return nil, fail(http.StatusBadRequest, "no startsAt")
	}
	fp := in.Fingerprint
	if fp == "" {
		ls := make(model.LabelSet, in.Labels.Len())
		in.Labels.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		fp = ls.Fingerprint().String()
	} else if !isHex16(fp) {
		return nil, fail(http.StatusBadRequest, "fingerprint %q is not 16 hex digits", clip(fp, 32))
	} else {
		fp = strings.ToLower(fp)
	}
	refuse := func(reason, format string, args ...any) (*Rejected, *RequestError) {
		return &Rejected{
			Index: i, Alertname: oneLine(clip(name, 64)), Fingerprint: fp, Reason: reason,
			Detail: fail(http.StatusUnprocessableEntity, format, args...).Reason,
		}, nil
	}

	ours := in.Labels.Get(OwnLabel) == "true"
	var service string
	for _, l := range serviceLabels {
		if v := in.Labels.Get(l); v != "" {
			if !ValidServiceName(v) {
				return refuse(RejectInvalidService,
					"label %s=%q is not a valid service name ([A-Za-z0-9][A-Za-z0-9_.:-]*, at most %d bytes)",
					clip(l, 64), clip(v, 64), MaxServiceBytes)
			}
			service = services.Canonical(v)
			break
		}
	}
	if service == "" && !ours {
		return refuse(RejectNoService, "no service label (one of %s)", clip(strings.Join(serviceLabels, ", "), 200))
	}

	if tooMany, detail := checkSet(in.Labels.Labels, "label", MaxLabels, MaxLabelValueBytes, false); detail != "" {
		reason := RejectInvalidLabel
		if tooMany {
			reason = RejectTooManyLabels
		}
		return refuse(reason, "%s", detail)
	}
	if tooMany, detail := checkSet(in.Annotations.Labels, "annotation", MaxAnnotations, MaxAnnotationValueBytes, true); detail != "" {
		reason := RejectInvalidAnnotation
		if tooMany {
			reason = RejectTooManyAnnotations
		}
		return refuse(reason, "%s", detail)
	}
	if err := checkText(in.GeneratorURL, MaxLabelValueBytes, false); err != "" {
		return refuse(RejectInvalidGeneratorURL, "generatorURL: %s", err)
	}

	*out = Alert{
		Service:      service,
		Status:       in.Status,
		Fingerprint:  fp,
		StartsAt:     in.StartsAt,
		EndsAt:       in.EndsAt,
		Labels:       in.Labels.Labels,
		Annotations:  in.Annotations.Labels,
		GeneratorURL: in.GeneratorURL,
		Ours:         ours,
	}
	return nil, nil
}

// checkSet checks a label set (kind: label or annotation): at most most
// pairs, each name valid, each value valid text of at most maxValue bytes.
// It says why not, and whether there were too many; "" when all is well.
func checkSet(ls labels.Labels, kind string, most, maxValue int, multiline bool) (tooMany bool, detail string) {
	if n := ls.Len(); n > most {
		return true, fmt.Sprintf("%d %ss, at most %d allowed", n, kind, most)
	}
	err := ls.Validate(func(l labels.Label) error {
		if e := checkName(l.Name); e != "" {
			return fmt.Errorf("%s %s", kind, e)
		}
		if e := checkText(l.Value, maxValue, multiline); e != "" {
			return fmt.Errorf("%s %s: %s", kind, l.Name, e)
		}
		return nil
	})
	if err != nil {
		return false, err.Error()
	}
	return false, ""
}

func isHex16(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isControl reports the C0 controls, DEL and the C1 controls.
func isControl(r rune) bool {
	return r < 0x20 || (0x7f <= r && r <= 0x9f)
}

// checkName checks a label or annotation name, and returns why it is
// refused, or "".
func checkName(k string) string {
	switch {
	case k == "":
		return "name is empty"
	case len(k) > MaxNameBytes:
		return fmt.Sprintf("name %q... is longer than %d bytes", clip(k, 64), MaxNameBytes)
	case strings.ContainsFunc(k, isControl):
		return fmt.Sprintf("name %q holds a control character", clip(k, 64))
	}
	return ""
}

// checkText checks a value, and returns why it is refused, or "". multiline
// allows \n, \t and \r\n.
func checkText(v string, max int, multiline bool) string {
	if len(v) > max {
		return fmt.Sprintf("value longer than %d bytes", max)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c < 0x7f {
			continue // the common case, printable ASCII
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(v[i:])
		}
		if isControl(r) && !(multiline && (c == '\n' || c == '\t' || c == '\r' && i+1 < len(v) && v[i+1] == '\n')) {
			return fmt.Sprintf("value holds control character %U", r)
		}
		i += size - 1
	}
	return ""
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// oneLine replaces the control characters of s, newlines included, with
// spaces, so that a reason is always one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}
