package aws

// This file is an HTTP fake of the two AWS APIs the registrar calls, built
// from AWS's documented wire formats, because neither has a runnable peer:
//
//   - EBS direct APIs (REST/JSON): POST /snapshots, PUT
//     /snapshots/{id}/blocks/{index} with x-amz-Data-Length, x-amz-Checksum
//     and x-amz-Checksum-Algorithm headers, POST
//     /snapshots/completion/{id} with x-amz-ChangedBlocksCount and the
//     aggregate checksum headers.
//   - EC2 (Query protocol: form-encoded POST with Action and Version=2016-11-15,
//     XML answers in the ec2 namespace, errors as Response/Errors/Error;
//     DescribeImages pages with MaxResults (1 to 1000, never with ImageId)
//     and the nextToken it issued, as EC2Client's requests must).
//
// It checks what it receives: a SigV4 signature it recomputes with the
// test credentials (sigv4_test.go), scoped to the right service, over the
// body sent; required parameters; block checksums and sizes, the linear
// aggregate checksum, no block after CompleteSnapshot; the boot settings
// of RegisterImage, and a snapshot that EC2 reports completed; for
// ImportSnapshot, a documented format, the tag resource type, and an S3
// object (read from the S3 peer) that qemu-img reads as that format (VMDK:
// streamOptimized, as VM Import requires). Like AWS, it completes work
// asynchronously: a completed EBS snapshot is pending on its first
// DescribeSnapshots, and an import task active on its first describe.
// fail("SnapshotState" or "ImportSnapshotTask", err) makes that work fail
// (the snapshot ends in the error state, the task deleted) so that tests
// can check what the registrar does then. It is not AWS: it only says
// whether our requests are well-formed by the documents.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

type fakeSnapshot struct {
	volumeGiB int64
	blocks    map[int32][]byte
	sums      map[int32][]byte
	state     string // pending, completed, error
	message   string // StateMessage of an error
	completed bool   // CompleteSnapshot was called
	polls     int    // DescribeSnapshots since
	tags      map[string]string
	deleted   bool
	imported  digest.Digest // of the S3 object ImportSnapshot read, if imported
}

type fakeImage struct {
	id, name, region, snapshot string
	params                     map[string]string
	launch                     []string
	deprecateAt                string
	deregistered               bool
}

type fakeAWS struct {
	t   testing.TB
	mu  sync.Mutex
	srv *httptest.Server
	seq int

	snapshots map[string]*fakeSnapshot
	images    map[string]*fakeImage
	calls     map[string]int
	failOn    map[string]error // Action (or EBS op) -> injected failure
	bytesIn   int64
	// s3Object reads an object from the S3 peer for ImportSnapshot: the
	// import reads what was really uploaded.
	s3Object func(bucket, key string) ([]byte, error)
	imports  map[string]*importTask
	// pageSize, when not 0, caps DescribeImages pages below MaxResults;
	// pages counts the pages served, tokens the nextTokens issued.
	pageSize int
	pages    int
	tokens   map[string]int
}

// importTask is an ImportSnapshot task: the snapshot is made on its second
// describe, unless it fails.
type importTask struct {
	gib    int64
	data   digest.Digest
	polls  int
	fail   error
	snap   string
	status string
}

func newFakeAWS(t testing.TB) *fakeAWS {
	f := &fakeAWS{t: t, snapshots: map[string]*fakeSnapshot{}, images: map[string]*fakeImage{}, calls: map[string]int{}, failOn: map[string]error{}, tokens: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) fail(op string, err error) { f.mu.Lock(); f.failOn[op] = err; f.mu.Unlock() }

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	sig, err := checkSigV4(r)
	if errors.Is(err, errBodyCut) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		f.t.Errorf("fake aws: %s %s: %v", r.Method, r.URL.Path, err)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error></Errors></Response>`, xmlEscape(err.Error()))
		return
	}
	region, service := sig.region, sig.service
	if sig.unsignedPayload && !putBlockRe.MatchString(r.URL.Path) {
		f.t.Errorf("fake aws: %s %s with an unsigned payload", r.Method, r.URL.Path)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/snapshots") {
		if service != "ebs" {
			f.t.Errorf("fake aws: EBS call signed for service %q", service)
		}
		f.serveEBS(w, r)
		return
	}
	if service != "ec2" {
		f.t.Errorf("fake aws: EC2 call signed for service %q", service)
	}
	f.serveEC2(w, r, region)
}

// EBS direct (REST/JSON).

var (
	putBlockRe = regexp.MustCompile(`^/snapshots/([^/]+)/blocks/(\d+)$`)
	completeRe = regexp.MustCompile(`^/snapshots/completion/([^/]+)$`)
)

func ebsError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("X-Amzn-Errortype", kind)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Message": msg})
}

func (f *fakeAWS) serveEBS(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/snapshots":
		f.calls["StartSnapshot"]++
		if err := f.failOn["StartSnapshot"]; err != nil {
			ebsError(w, 500, "InternalServerException", err.Error())
			return
		}
		var in struct {
			VolumeSize  int64
			Description string
			ClientToken string
			Timeout     *int
			Tags        []struct{ Key, Value string }
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || in.VolumeSize <= 0 || in.VolumeSize > 65536 {
			ebsError(w, 400, "ValidationException", fmt.Sprintf("VolumeSize (1 to 65536 GiB) required: %v", err))
			return
		}
		// StartSnapshot's documented limits.
		msg := ""
		switch {
		case in.Timeout != nil && (*in.Timeout < 10 || *in.Timeout > 4320):
			msg = fmt.Sprintf("Timeout %d: 10 to 4320 minutes", *in.Timeout)
		case len(in.Description) > 255:
			msg = "Description longer than 255 characters"
		case len(in.ClientToken) > 255:
			msg = "ClientToken longer than 255 characters"
		}
		for _, tg := range in.Tags {
			if tg.Key == "" || len(tg.Key) > 127 || len(tg.Value) > 255 || strings.HasPrefix(tg.Key, "aws:") {
				msg = fmt.Sprintf("tag %q=%q", tg.Key, tg.Value)
			}
		}
		if msg != "" {
			f.t.Errorf("fake aws: StartSnapshot: %s", msg)
			ebsError(w, 400, "ValidationException", msg)
			return
		}
		f.seq++
		id := fmt.Sprintf("snap-%017d", f.seq)
		tags := map[string]string{}
		for _, t := range in.Tags {
			tags[t.Key] = t.Value
		}
		f.snapshots[id] = &fakeSnapshot{volumeGiB: in.VolumeSize, blocks: map[int32][]byte{}, sums: map[int32][]byte{}, state: "pending", tags: tags}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"SnapshotId": id, "Status": "pending", "VolumeSize": in.VolumeSize, "BlockSize": BlockSize})
	case r.Method == http.MethodPut && putBlockRe.MatchString(r.URL.Path):
		f.calls["PutSnapshotBlock"]++
		if err := f.failOn["PutSnapshotBlock"]; err != nil {
			ebsError(w, 500, "InternalServerException", err.Error())
			return
		}
		mm := putBlockRe.FindStringSubmatch(r.URL.Path)
		s := f.snapshots[mm[1]]
		if s == nil || s.state != "pending" || s.completed {
			ebsError(w, 404, "ResourceNotFoundException", "no pending snapshot "+mm[1])
			return
		}
		idx, _ := strconv.Atoi(mm[2])
		if int64(idx)*BlockSize >= s.volumeGiB<<30 {
			ebsError(w, 400, "ValidationException", "block index beyond the volume")
			return
		}
		if p := r.Header.Get("X-Amz-Progress"); p != "" {
			if v, err := strconv.Atoi(p); err != nil || v < 0 || v > 100 {
				f.t.Errorf("fake aws: PutSnapshotBlock: x-amz-Progress %q", p)
				ebsError(w, 400, "ValidationException", "x-amz-Progress must be 0 to 100")
				return
			}
		}
		n, _ := strconv.Atoi(r.Header.Get("X-Amz-Data-Length"))
		data, _ := io.ReadAll(r.Body)
		f.bytesIn += int64(len(data))
		sum := sha256.Sum256(data)
		if n != BlockSize || len(data) != BlockSize {
			ebsError(w, 400, "ValidationException", fmt.Sprintf("x-amz-Data-Length %d, body %d, want %d", n, len(data), BlockSize))
			return
		}
		if r.Header.Get("X-Amz-Checksum-Algorithm") != "SHA256" || r.Header.Get("X-Amz-Checksum") != base64.StdEncoding.EncodeToString(sum[:]) {
			ebsError(w, 400, "ValidationException", "checksum does not match the block data")
			return
		}
		s.blocks[int32(idx)] = data
		s.sums[int32(idx)] = sum[:]
		w.Header().Set("X-Amz-Checksum", r.Header.Get("X-Amz-Checksum"))
		w.Header().Set("X-Amz-Checksum-Algorithm", "SHA256")
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPost && completeRe.MatchString(r.URL.Path):
		f.calls["CompleteSnapshot"]++
		mm := completeRe.FindStringSubmatch(r.URL.Path)
		s := f.snapshots[mm[1]]
		if s == nil || s.state != "pending" || s.completed {
			ebsError(w, 404, "ResourceNotFoundException", "no pending snapshot "+mm[1])
			return
		}
		if n, _ := strconv.Atoi(r.Header.Get("X-Amz-ChangedBlocksCount")); n != len(s.blocks) {
			ebsError(w, 400, "ValidationException", fmt.Sprintf("ChangedBlocksCount %d, %d blocks written", n, len(s.blocks)))
			return
		}
		if r.Header.Get("X-Amz-Checksum-Algorithm") != "SHA256" {
			ebsError(w, 400, "ValidationException", "checksum algorithm must be SHA256")
			return
		}
		if r.Header.Get("X-Amz-Checksum-Aggregation-Method") != "LINEAR" {
			ebsError(w, 400, "ValidationException", "aggregation method must be LINEAR")
			return
		}
		var idx []int
		for i := range s.sums {
			idx = append(idx, int(i))
		}
		sort.Ints(idx)
		agg := sha256.New()
		for _, i := range idx {
			agg.Write(s.sums[int32(i)])
		}
		if r.Header.Get("X-Amz-Checksum") != base64.StdEncoding.EncodeToString(agg.Sum(nil)) {
			ebsError(w, 400, "ValidationException", "aggregate checksum does not match")
			return
		}
		// The snapshot completes asynchronously (see DescribeSnapshots).
		s.completed = true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]string{"Status": "pending"})
	default:
		ebsError(w, 404, "ValidationException", "unknown EBS route "+r.Method+" "+r.URL.Path)
	}
}

// EC2 (Query protocol).

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func ec2Error(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake</RequestID></Response>`, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func ec2OK(w http.ResponseWriter, action, body string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="%s"><requestId>fake</requestId>%s</%sResponse>`, action, ec2NS, body, action)
}

func (f *fakeAWS) serveEC2(w http.ResponseWriter, r *http.Request, region string) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		ec2Error(w, "InvalidRequest", "want a form POST")
		return
	}
	p := map[string]string{}
	for k, v := range r.PostForm {
		p[k] = v[0]
	}
	action := p["Action"]
	f.calls[action]++
	if p["Version"] != "2016-11-15" {
		ec2Error(w, "InvalidRequest", "Version must be 2016-11-15, got "+p["Version"])
		return
	}
	if err := f.failOn[action]; err != nil {
		ec2Error(w, "InternalError", err.Error())
		return
	}
	need := func(keys ...string) bool {
		for _, k := range keys {
			if p[k] == "" {
				ec2Error(w, "MissingParameter", "The request must contain the parameter "+k)
				return false
			}
		}
		return true
	}
	switch action {
	case "DescribeSnapshots":
		if !need("SnapshotId.1") {
			return
		}
		s := f.snapshots[p["SnapshotId.1"]]
		if s == nil || s.deleted {
			ec2Error(w, "InvalidSnapshot.NotFound", "The snapshot '"+p["SnapshotId.1"]+"' does not exist.")
			return
		}
		if s.completed && s.state == "pending" {
			if s.polls++; s.polls >= 2 {
				s.state = "completed"
				if err := f.failOn["SnapshotState"]; err != nil {
					s.state, s.message = "error", err.Error()
				}
			}
		}
		ec2OK(w, action, fmt.Sprintf(`<snapshotSet><item><snapshotId>%s</snapshotId><status>%s</status><statusMessage>%s</statusMessage><volumeSize>%d</volumeSize></item></snapshotSet>`, p["SnapshotId.1"], s.state, xmlEscape(s.message), s.volumeGiB))
	case "DeleteSnapshot":
		if !need("SnapshotId") {
			return
		}
		s := f.snapshots[p["SnapshotId"]]
		if s == nil || s.deleted {
			ec2Error(w, "InvalidSnapshot.NotFound", "no such snapshot")
			return
		}
		for _, img := range f.images {
			if img.snapshot == p["SnapshotId"] && !img.deregistered {
				ec2Error(w, "InvalidSnapshot.InUse", "snapshot in use by "+img.id)
				return
			}
		}
		s.deleted = true
		ec2OK(w, action, `<return>true</return>`)
	case "RegisterImage":
		if !need("Name", "Architecture", "RootDeviceName", "BlockDeviceMapping.1.Ebs.SnapshotId") {
			return
		}
		for k, want := range map[string]string{"BootMode": "uefi", "EnaSupport": "true", "ImdsSupport": "v2.0", "TpmSupport": "v2.0", "VirtualizationType": "hvm"} {
			if p[k] != want {
				ec2Error(w, "InvalidParameterValue", fmt.Sprintf("%s=%q, hardvm images need %q", k, p[k], want))
				return
			}
		}
		if p["BlockDeviceMapping.1.DeviceName"] != p["RootDeviceName"] {
			ec2Error(w, "InvalidBlockDeviceMapping", "root device not mapped")
			return
		}
		s := f.snapshots[p["BlockDeviceMapping.1.Ebs.SnapshotId"]]
		if s == nil || s.deleted || s.state != "completed" {
			ec2Error(w, "InvalidSnapshot.NotFound", "snapshot missing or not completed")
			return
		}
		for _, img := range f.images {
			if img.name == p["Name"] && img.region == region && !img.deregistered {
				ec2Error(w, "InvalidAMIName.Duplicate", "AMI name "+p["Name"]+" is already in use by AMI "+img.id)
				return
			}
		}
		f.seq++
		id := fmt.Sprintf("ami-%017d", f.seq)
		f.images[id] = &fakeImage{id: id, name: p["Name"], region: region, snapshot: p["BlockDeviceMapping.1.Ebs.SnapshotId"], params: p}
		ec2OK(w, action, "<imageId>"+id+"</imageId>")
	case "DescribeImages":
		var ids []string
		for i := 1; p[fmt.Sprintf("ImageId.%d", i)] != ""; i++ {
			ids = append(ids, p[fmt.Sprintf("ImageId.%d", i)])
		}
		// Paginated when MaxResults is given (documented: 1 to 1000, not
		// with ImageId). Like EC2, the fake pages over the images it
		// considers and filters within the page, so that a page can be
		// empty and still carry a nextToken; pageSize makes pages
		// smaller than MaxResults, as EC2 may.
		var all []*fakeImage
		for _, img := range f.sortedImages() {
			if !img.deregistered && img.region == region {
				all = append(all, img)
			}
		}
		page, from := len(all), 0
		if v, ok := p["MaxResults"]; ok {
			n, err := strconv.Atoi(v)
			switch {
			case len(ids) > 0:
				ec2Error(w, "InvalidParameterCombination", "MaxResults cannot be specified with ImageId")
				return
			case err != nil || n < 1 || n > 1000:
				ec2Error(w, "InvalidParameterValue", "MaxResults must be 1 to 1000, got "+v)
				return
			}
			page = n
			if f.pageSize > 0 {
				page = min(page, f.pageSize)
			}
		} else if _, ok := p["NextToken"]; ok {
			ec2Error(w, "InvalidParameterCombination", "NextToken without MaxResults")
			return
		}
		if tok := p["NextToken"]; tok != "" {
			at, ok := f.tokens[tok]
			if !ok {
				ec2Error(w, "InvalidPaginationToken", "The pagination token "+tok+" is not valid")
				return
			}
			from = at
		}
		f.pages++
		next := ""
		if from+page < len(all) {
			f.seq++
			next = fmt.Sprintf("token-%d", f.seq)
			f.tokens[next] = from + page
			all = all[from : from+page]
		} else {
			all = all[from:]
		}
		var items strings.Builder
		for _, img := range all {
			if p["Filter.1.Name"] == "name" && p["Filter.1.Value.1"] != img.name {
				continue
			}
			if len(ids) > 0 && !slices.Contains(ids, img.id) {
				continue
			}
			fmt.Fprintf(&items, `<item><imageId>%s</imageId><name>%s</name><imageState>available</imageState><rootDeviceName>%s</rootDeviceName>`+
				`<blockDeviceMapping><item><deviceName>%[3]s</deviceName><ebs><snapshotId>%s</snapshotId></ebs></item></blockDeviceMapping></item>`,
				img.id, img.name, rootDevice, img.snapshot)
		}
		tokenXML := ""
		if next != "" {
			tokenXML = "<nextToken>" + next + "</nextToken>"
		}
		ec2OK(w, action, "<imagesSet>"+items.String()+"</imagesSet>"+tokenXML)
	case "DeregisterImage":
		img := f.images[p["ImageId"]]
		if img == nil || img.deregistered {
			ec2Error(w, "InvalidAMIID.NotFound", "no such image")
			return
		}
		img.deregistered = true
		ec2OK(w, action, `<return>true</return>`)
	case "CopyImage":
		if !need("SourceImageId", "SourceRegion", "Name") {
			return
		}
		src := f.images[p["SourceImageId"]]
		if src == nil || src.deregistered || src.region != p["SourceRegion"] {
			ec2Error(w, "InvalidAMIID.NotFound", "source image not in "+p["SourceRegion"])
			return
		}
		// A copy has a snapshot of its own, in its region.
		f.seq++
		snap := fmt.Sprintf("snap-%017d", f.seq)
		orig := f.snapshots[src.snapshot]
		f.snapshots[snap] = &fakeSnapshot{volumeGiB: orig.volumeGiB, blocks: orig.blocks, sums: orig.sums, state: "completed", tags: orig.tags, imported: orig.imported}
		f.seq++
		id := fmt.Sprintf("ami-%017d", f.seq)
		f.images[id] = &fakeImage{id: id, name: p["Name"], region: region, snapshot: snap, params: p}
		ec2OK(w, action, "<imageId>"+id+"</imageId>")
	case "ModifyImageAttribute":
		img := f.images[p["ImageId"]]
		if img == nil {
			ec2Error(w, "InvalidAMIID.NotFound", "no such image")
			return
		}
		for i := 1; p[fmt.Sprintf("LaunchPermission.Add.%d.UserId", i)] != ""; i++ {
			img.launch = append(img.launch, p[fmt.Sprintf("LaunchPermission.Add.%d.UserId", i)])
		}
		ec2OK(w, action, `<return>true</return>`)
	case "EnableImageDeprecation":
		if !need("ImageId", "DeprecateAt") {
			return
		}
		img := f.images[p["ImageId"]]
		if img == nil {
			ec2Error(w, "InvalidAMIID.NotFound", "no such image")
			return
		}
		img.deprecateAt = p["DeprecateAt"]
		ec2OK(w, action, `<return>true</return>`)
	case "ImportSnapshot":
		if !need("DiskContainer.Format", "DiskContainer.UserBucket.S3Bucket", "DiskContainer.UserBucket.S3Key") {
			return
		}
		// The documented formats, and what qemu-img calls them.
		qfmt, ok := map[string]string{"VMDK": "vmdk", "VHD": "vpc", "RAW": "raw"}[p["DiskContainer.Format"]]
		if !ok {
			ec2Error(w, "InvalidParameterValue", "DiskContainer.Format "+p["DiskContainer.Format"]+": valid values are VHD | VMDK | RAW")
			return
		}
		if rt, ok := p["TagSpecification.1.ResourceType"]; ok && rt != "import-snapshot-task" {
			ec2Error(w, "InvalidParameterValue", "TagSpecification resource type "+rt+", ImportSnapshot tags an import-snapshot-task")
			return
		}
		if f.s3Object == nil {
			ec2Error(w, "InvalidParameter", "no S3 peer configured")
			return
		}
		data, err := f.s3Object(p["DiskContainer.UserBucket.S3Bucket"], p["DiskContainer.UserBucket.S3Key"])
		if err != nil {
			ec2Error(w, "InvalidParameter", "S3 object: "+err.Error())
			return
		}
		virtual, err := f.diskInfo(data, qfmt)
		if err != nil {
			ec2Error(w, "InvalidParameter", "the S3 object is not a "+p["DiskContainer.Format"]+" disk VM Import takes: "+err.Error())
			return
		}
		f.seq++
		task := fmt.Sprintf("import-snap-%017d", f.seq)
		if f.imports == nil {
			f.imports = map[string]*importTask{}
		}
		f.imports[task] = &importTask{gib: (virtual + 1<<30 - 1) >> 30, data: digest.FromBytes(data), fail: f.failOn["ImportSnapshotTask"], status: "active"}
		ec2OK(w, action, "<importTaskId>"+task+"</importTaskId><snapshotTaskDetail><status>active</status></snapshotTaskDetail>")
	case "DescribeImportSnapshotTasks":
		it, ok := f.imports[p["ImportTaskId.1"]]
		if !ok {
			ec2Error(w, "InvalidConversionTaskId.Malformed", "no such task")
			return
		}
		msg := ""
		if it.status == "active" {
			if it.polls++; it.polls >= 2 {
				switch {
				case it.fail != nil:
					it.status = "deleted"
				default:
					it.status = "completed"
					f.seq++
					it.snap = fmt.Sprintf("snap-%017d", f.seq)
					f.snapshots[it.snap] = &fakeSnapshot{volumeGiB: it.gib, blocks: map[int32][]byte{}, sums: map[int32][]byte{}, state: "completed", tags: map[string]string{}, imported: it.data}
				}
			}
		}
		if it.fail != nil && it.status == "deleted" {
			msg = "ClientError: " + it.fail.Error()
		}
		ec2OK(w, action, "<importSnapshotTaskSet><item><importTaskId>"+p["ImportTaskId.1"]+"</importTaskId><snapshotTaskDetail><status>"+it.status+"</status><statusMessage>"+xmlEscape(msg)+"</statusMessage><snapshotId>"+it.snap+"</snapshotId></snapshotTaskDetail></item></importSnapshotTaskSet>")
	default:
		ec2Error(w, "InvalidAction", "The action "+action+" is not valid for this web service.")
	}
}

// tag returns the value of the image's tag key, as RegisterImage or
// CopyImage received it.
func (img *fakeImage) tag(key string) string {
	for i := 1; img.params[fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i)] != ""; i++ {
		if img.params[fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i)] == key {
			return img.params[fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i)]
		}
	}
	return ""
}

func (f *fakeAWS) sortedImages() []*fakeImage {
	var out []*fakeImage
	for _, img := range f.images {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// diskInfo has qemu-img read data and returns its virtual size; the format
// qemu-img finds must be qfmt, and a VMDK streamOptimized.
func (f *fakeAWS) diskInfo(data []byte, qfmt string) (int64, error) {
	qemu, err := exec.LookPath("qemu-img")
	if err != nil {
		f.t.Errorf("fake aws: ImportSnapshot needs qemu-img to check the disk: %v", err)
		return 0, err
	}
	tmp, err := os.CreateTemp("", "fake-import-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	out, err := exec.Command(qemu, "info", "--output=json", tmp.Name()).Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info: %w", err)
	}
	var info struct {
		Format         string `json:"format"`
		VirtualSize    int64  `json:"virtual-size"`
		FormatSpecific struct {
			Data struct {
				CreateType string `json:"create-type"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, err
	}
	if info.Format != qfmt {
		return 0, fmt.Errorf("qemu-img reads it as %s", info.Format)
	}
	if qfmt == "vmdk" && info.FormatSpecific.Data.CreateType != "streamOptimized" {
		return 0, fmt.Errorf("VMDK of create type %q, not streamOptimized", info.FormatSpecific.Data.CreateType)
	}
	return info.VirtualSize, nil
}
