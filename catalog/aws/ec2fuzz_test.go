package aws

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzEC2Answer feeds untrusted bytes to the EC2 and S3 answer parsers:
// every answer type the registrar decodes, and the error documents. They
// must not panic; a decoding failure is an ErrResponse (or, for S3's
// 200-status errors, an *APIError); an answer is accepted only under its
// root element; an error answer is always an *APIError of its status.
func FuzzEC2Answer(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0" encoding="UTF-8"?><DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet><item><imageId>ami-1</imageId><name>n</name><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-1</snapshotId></ebs></item></blockDeviceMapping></item></imagesSet><nextToken>t</nextToken></DescribeImagesResponse>`,
		`<DescribeSnapshotsResponse><snapshotSet><item><snapshotId>snap-1</snapshotId><status>error</status><statusMessage>m</statusMessage></item></snapshotSet></DescribeSnapshotsResponse>`,
		`<DescribeImportSnapshotTasksResponse><importSnapshotTaskSet><item><importTaskId>i</importTaskId><snapshotTaskDetail><status>completed</status><snapshotId>snap-1</snapshotId></snapshotTaskDetail></item></importSnapshotTaskSet></DescribeImportSnapshotTasksResponse>`,
		`<RegisterImageResponse><imageId>ami-1</imageId></RegisterImageResponse>`,
		`<ImportSnapshotResponse><importTaskId>import-snap-1</importTaskId></ImportSnapshotResponse>`,
		`<DeleteSnapshotResponse><return>true</return></DeleteSnapshotResponse>`,
		`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>`,
		`<Response><Errors></Errors></Response>`,
		`<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>`,
		`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message><RequestId>r</RequestId></Error>`,
		`<CompleteMultipartUploadResult><ETag>"e-2"</ETag></CompleteMultipartUploadResult>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><Response>&a;</Response>`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tc := range []struct {
			action string
			out    any
		}{
			{"DescribeImages", &ec2Images{}},
			{"DescribeSnapshots", &ec2Snapshots{}},
			{"DescribeImportSnapshotTasks", &ec2ImportTasks{}},
			{"RegisterImage", &ec2ImageID{}},
			{"ImportSnapshot", &ec2ImportTask{}},
			{"DeleteSnapshot", &ec2Return{}},
		} {
			err := decodeEC2(tc.action, b, tc.out)
			if err != nil && !errors.Is(err, ErrResponse) {
				t.Fatalf("%s: %v is not an ErrResponse", tc.action, err)
			}
			if err == nil && !bytes.Contains(b, []byte(tc.action+"Response")) {
				t.Fatalf("%s: accepted an answer without <%sResponse>", tc.action, tc.action)
			}
		}
		for _, tc := range []struct {
			op, root string
			out      any
		}{
			{"CreateMultipartUpload", "InitiateMultipartUploadResult", &s3Initiate{}},
			{"CompleteMultipartUpload", "CompleteMultipartUploadResult", &struct{ ETag string }{}},
		} {
			err := decodeS3(tc.op, tc.root, 200, b, tc.out)
			var ae *APIError
			if err != nil && !errors.Is(err, ErrResponse) && !errors.As(err, &ae) {
				t.Fatalf("%s: %v is neither an ErrResponse nor an *APIError", tc.op, err)
			}
			if err == nil && !bytes.Contains(b, []byte(tc.root)) {
				t.Fatalf("%s: accepted an answer without <%s>", tc.op, tc.root)
			}
		}
		err := parseAPIError("EC2", "DescribeImages", 400, "req", b, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Action != "DescribeImages" || ae.Error() == "" {
			t.Fatalf("parseAPIError = %#v", err)
		}
		if ae.Code != "" && !bytes.Contains(b, []byte("Code")) {
			t.Fatalf("code %q from a document without <Code>", ae.Code)
		}
	})
}
