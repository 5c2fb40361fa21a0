package web

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/spdx/tools-golang/spdx"

	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/provenance"
)

// sbomTable is an SPDX document's packages as a table, sorted on the
// server (column links re-sort it: no script).
type sbomTable struct {
	Signed  bool // from the verified SBOM statement, not the unsigned copy
	Rows    []sbomRow
	Sort    string
	Desc    bool
	Columns []sortLink
	Name    string // the document's name
}

type sbomRow struct {
	Name    string
	Version string
	License string
	Purl    string
	Purpose string
}

type sortLink struct {
	Key    string
	Text   string
	URL    string
	Active bool
	Desc   bool
}

func sbomOf(doc *spdx.Document, signed bool, q url.Values, base string) *sbomTable {
	t := &sbomTable{Signed: signed, Sort: q.Get("sort"), Desc: q.Get("order") == "desc", Name: doc.DocumentName}
	if !validSort(t.Sort) {
		t.Sort, t.Desc = "name", false
	}
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		row := sbomRow{Name: p.PackageName, Version: p.PackageVersion, License: p.PackageLicenseDeclared, Purpose: p.PrimaryPackagePurpose}
		if row.License == "" || row.License == "NOASSERTION" {
			row.License = cmp.Or(p.PackageLicenseConcluded, row.License)
		}
		for _, r := range p.PackageExternalReferences {
			if r != nil && r.RefType == "purl" {
				row.Purl = r.Locator
				break
			}
		}
		t.Rows = append(t.Rows, row)
	}
	key := func(r *sbomRow) string {
		switch t.Sort {
		case "version":
			return r.Version
		case "license":
			return r.License
		case "purl":
			return r.Purl
		}
		return r.Name
	}
	slices.SortStableFunc(t.Rows, func(a, b sbomRow) int {
		c := cmp.Or(strings.Compare(key(&a), key(&b)), strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
		if t.Desc {
			return -c
		}
		return c
	})
	for _, k := range sortKeys {
		l := sortLink{Key: k, Text: k, Active: k == t.Sort}
		v := url.Values{"sort": {k}}
		if l.Active && !t.Desc {
			v.Set("order", "desc")
			l.Desc = false
		} else if l.Active {
			l.Desc = true
		}
		if k == "license" {
			l.Text = "licence"
		}
		l.URL = base + "?" + v.Encode() + "#sbom"
		t.Columns = append(t.Columns, l)
	}
	return t
}

// provView is an SLSA provenance statement as a page shows it.
type provView struct {
	Signed     bool
	Builder    string
	BuildType  string
	Invocation string
	Started    string
	Finished   string
	Spec       []kv // the external parameters' spec, flattened one level
	World      []string
	Deps       []dep
	Subjects   []provenance.Subject
}

type kv struct{ Key, Value string }

type dep struct {
	Name     string
	URI      string
	Digest   string
	Download string
}

func provOf(st *provenance.Statement, signed bool) *provView {
	pred := st.GetPredicate().GetFields()
	bd := pred["buildDefinition"].GetStructValue().GetFields()
	rd := pred["runDetails"].GetStructValue().GetFields()
	md := rd["metadata"].GetStructValue().GetFields()
	v := &provView{Signed: signed, Builder: provenance.BuilderID(st), BuildType: bd["buildType"].GetStringValue(),
		Invocation: md["invocationId"].GetStringValue(), Started: md["startedOn"].GetStringValue(), Finished: md["finishedOn"].GetStringValue(),
		Subjects: provenance.Subjects(st)}
	spec := bd["externalParameters"].GetStructValue().GetFields()["spec"].GetStructValue().GetFields()
	for k, val := range spec {
		s := val.GetStringValue()
		if s == "" {
			b, err := val.MarshalJSON()
			if err != nil {
				continue
			}
			s = string(b)
		}
		v.Spec = append(v.Spec, kv{k, s})
	}
	slices.SortFunc(v.Spec, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	for _, w := range bd["internalParameters"].GetStructValue().GetFields()["world"].GetListValue().GetValues() {
		v.World = append(v.World, w.GetStringValue())
	}
	for _, d := range bd["resolvedDependencies"].GetListValue().GetValues() {
		f := d.GetStructValue().GetFields()
		x := dep{Name: f["name"].GetStringValue(), URI: f["uri"].GetStringValue(), Download: f["downloadLocation"].GetStringValue()}
		if h := f["digest"].GetStructValue().GetFields()["sha256"].GetStringValue(); h != "" {
			x.Digest = "sha256:" + h
		}
		v.Deps = append(v.Deps, x)
	}
	return v
}

// fipsView is a FIPS report as a page shows it.
type fipsView struct {
	Signed bool
	Report *fips.Report
}
