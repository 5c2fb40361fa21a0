package fips

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestReportPassed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []Result
		want    bool
	}{
		{"empty", nil, false},
		{"all pass", []Result{{Check: CheckProviderMAC, Status: Pass}, {Check: CheckJava, Status: NotApplicable}}, true},
		{"only not applicable", []Result{{Check: CheckJava, Status: NotApplicable}}, false},
		{"one fail", []Result{{Check: CheckProviderMAC, Status: Pass}, {Check: CheckKernel, Status: Fail}}, false},
		{"unknown status", []Result{{Check: CheckProviderMAC, Status: "maybe"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Results: tc.results}
			if got := r.Passed(); got != tc.want {
				t.Fatalf("Passed() = %v, want %v", got, tc.want)
			}
			if err := r.Err(); (err == nil) != tc.want {
				t.Fatalf("Err() = %v with Passed() %v", err, tc.want)
			}
		})
	}
	var nilReport *Report
	if nilReport.Passed() {
		t.Fatal("nil report passed")
	}
}

func TestReportErrUnwraps(t *testing.T) {
	r := &Report{Results: []Result{
		{Check: CheckProviderMAC, Status: Fail, Path: "/usr/lib/ossl-modules/fips.so", Want: "A", Got: "B"},
		{Check: CheckKernel, Status: Fail, Path: "/etc/kernel/cmdline", Want: "no fips=1"},
	}}
	err := r.Err()
	for _, want := range []error{ErrCheck, ErrMAC, ErrKernel} {
		if !errors.Is(err, want) {
			t.Errorf("Err() = %v, not %v", err, want)
		}
	}
	if errors.Is(err, ErrDenied) {
		t.Errorf("Err() = %v is ErrDenied", err)
	}
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Path != "/usr/lib/ossl-modules/fips.so" {
		t.Fatalf("errors.As: %v", ce)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := &Report{
		Modules: []Found{{Module: "openssl-fips-provider", Version: "3.1.2-r0", Package: "openssl-provider-fips", Path: "/usr/lib/ossl-modules/fips.so", Certificate: "CMVP #4985"}},
		Results: []Result{{Check: CheckProviderMAC, Status: Pass, Path: "/etc/ssl/fipsmodule.cnf"}},
		Scope:   DefaultScope(),
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, &back) {
		t.Fatalf("round trip:\n%+v\n%+v", r, &back)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"modules", "results", "scope"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, data)
		}
	}
}
