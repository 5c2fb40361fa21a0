//go:build !hardvm_noaws

package main

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/aws"
)

func init() { openers["aws"] = openAWS }

func openAWS(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	var lopts []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		lopts = append(lopts, awsconfig.WithRegion(c.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: AWS configuration: %w", c.where(), err)
	}
	if cfg.Region == "" {
		return nil, nil, usagef("%s: no region (--aws-region, region:, AWS_REGION or the profile's)", c.where())
	}
	var opts []aws.Option
	if len(c.CopyRegions) > 0 {
		// aws.New gives copies EC2 clients of cfg for their regions.
		opts = append(opts, aws.WithCopyRegions(c.CopyRegions...))
	}
	if len(c.ShareAccounts) > 0 {
		opts = append(opts, aws.WithShareAccounts(c.ShareAccounts...))
	}
	if c.S3Bucket != "" {
		opts = append(opts, aws.WithS3Import(aws.NewS3Client(cfg), c.S3Bucket))
	}
	r, err := aws.New(cfg, opts...)
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}
