package provenance

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
)

// Outcome is the outcome of one rule.
type Outcome string

// Outcomes of a rule.
const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	// Skipped: the rule did not apply (e.g. no log entry required of a
	// key-signed bundle) or the policy waived it with an Unsafe option.
	Skipped Outcome = "skip"
)

// Rule is one rule a verification evaluated.
type Rule struct {
	// Name of the rule: signature, identity, transparency-log, timestamps,
	// subject, predicate-type, builder-id, repository-family,
	// denied-packages, max-age, sbom, fips-report, attestation:<kind>.
	Name string `json:"name"`
	// Attestation is the kind of attestation checked (provenance, sbom,
	// fips, or a file name), empty for rules about the artifact.
	Attestation string `json:"attestation,omitempty"`
	// Artifact is the artifact checked.
	Artifact string  `json:"artifact,omitempty"`
	Outcome  Outcome `json:"outcome"`
	// Detail says what was found: a key id, an identity, a digest, counts.
	Detail string `json:"detail,omitempty"`
	// Err is the failure, a *RuleError in the ErrVerification tree.
	Err error `json:"-"`
	// Error is Err as text, for JSON.
	Error string `json:"error,omitempty"`
}

// Result is what a verification found: every rule it evaluated, in order,
// and the verified statements.
type Result struct {
	Artifact string `json:"artifact"`
	Digest   string `json:"digest"`
	Rules    []Rule `json:"rules"`
	// Verified statements, nil when absent or not verified.
	Provenance *Statement `json:"-"`
	SBOM       *Statement `json:"-"`
	FIPS       *Statement `json:"-"`
}

// Passed reports whether no rule failed.
func (r *Result) Passed() bool { return r != nil && r.Err() == nil }

// Err joins the errors of the failed rules (nil if none failed); errors.Is
// finds each one's sentinel through it.
func (r *Result) Err() error {
	var errs []error
	for _, rule := range r.Rules {
		if rule.Outcome == Fail {
			errs = append(errs, rule.Err)
		}
	}
	return errors.Join(errs...)
}

// Failed returns the failed rules.
func (r *Result) Failed() []Rule {
	var out []Rule
	for _, rule := range r.Rules {
		if rule.Outcome == Fail {
			out = append(out, rule)
		}
	}
	return out
}

// Add records a rule in r, for checks made outside this package (a build
// directory's, say) to report in the same result: the rule's Artifact
// becomes r's, and a failed rule's Err (ErrVerification when nil) is
// wrapped in a *RuleError naming the rule and the artifact.
func (r *Result) Add(rule Rule) {
	rule.Artifact = r.Artifact
	if rule.Outcome == Fail {
		if rule.Err == nil {
			rule.Err = ErrVerification
		}
		rule.Err = &RuleError{Rule: rule.Name, Artifact: r.Artifact, Err: rule.Err}
		rule.Error = rule.Err.Error()
	}
	r.Rules = append(r.Rules, rule)
}

func (r *Result) pass(att, name, detail string) {
	r.Add(Rule{Name: name, Attestation: att, Outcome: Pass, Detail: detail})
}

func (r *Result) skip(att, name, detail string) {
	r.Add(Rule{Name: name, Attestation: att, Outcome: Skipped, Detail: detail})
}

func (r *Result) fail(att, name string, err error) {
	r.Add(Rule{Name: name, Attestation: att, Outcome: Fail, Err: err})
}

// WriteTable writes the rules as an aligned table for people.
func WriteTable(w io.Writer, results ...*Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT\tATTESTATION\tRULE\tOUTCOME\tDETAIL")
	for _, res := range results {
		for _, r := range res.Rules {
			detail := r.Detail
			if r.Outcome == Fail {
				detail = r.Err.Error()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Artifact, dash(r.Attestation), r.Name, r.Outcome, detail)
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
