package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// An EC2Client calls any EC2 Query API action: here DescribeImages, to an
// endpoint that stands in for https://ec2.eu-west-1.amazonaws.com/ (in a
// program, cfg comes from config.LoadDefaultConfig).
func ExampleEC2Client_Call() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		fmt.Fprintf(w, `<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><imagesSet><item><imageId>ami-0123456789abcdef0</imageId><name>%s</name></item></imagesSet></%[1]sResponse>`,
			r.PostForm.Get("Action"), r.PostForm.Get("Filter.1.Value.1"))
	}))
	defer srv.Close()

	c := NewEC2Client(awsv2.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: awsv2.String(srv.URL),
	})
	var out struct {
		Images []struct {
			ID   string `xml:"imageId"`
			Name string `xml:"name"`
		} `xml:"imagesSet>item"`
	}
	params := url.Values{"Owner.1": {"self"}, "Filter.1.Name": {"name"}, "Filter.1.Value.1": {"hardvm-base"}}
	err := c.Call(context.Background(), "DescribeImages", params, &out)
	fmt.Println(out.Images, err)
	// Output: [{ami-0123456789abcdef0 hardvm-base}] <nil>
}
