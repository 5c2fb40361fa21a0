//go:build !hardvm_novsphere

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/vsphere"
	"github.com/vmware/govmomi"
)

func init() { openers["vsphere"] = openVSphere }

func openVSphere(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	raw := cmp(c.URL, os.Getenv(envVSphereURL))
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, nil, usagef("%s: URL is not https://HOST/sdk", c.where())
	}
	if u.User != nil && c.URL != "" {
		return nil, nil, usagef("%s: --vsphere-url must not hold credentials; set $%s and $%s", c.where(), envVSphereUser, envVSpherePassword)
	}
	if u.Scheme == "" {
		u.Scheme = "https"
	}
	if u.Path == "" {
		u.Path = "/sdk"
	}
	if user := os.Getenv(envVSphereUser); user != "" {
		u.User = url.UserPassword(user, os.Getenv(envVSpherePassword))
	}
	if u.User == nil {
		return nil, nil, usagef("%s: no user: set $%s and $%s", c.where(), envVSphereUser, envVSpherePassword)
	}
	insecure := c.Insecure
	if v := os.Getenv(envVSphereInsecure); v == "1" || v == "true" {
		insecure = true
	}
	cl, err := govmomi.NewClient(ctx, u, insecure)
	if err != nil {
		// govmomi's errors may hold the URL: redact its password.
		return nil, nil, fmt.Errorf("%s: login to %s: %s", c.where(), u.Redacted(), redact(err.Error(), u))
	}
	var opts []vsphere.Option
	if c.SecureBoot {
		opts = append(opts, vsphere.WithSecureBoot())
	}
	logout := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = cl.Logout(ctx)
	}
	r, err := vsphere.New(vsphere.Config{Client: cl.Client, Datacenter: c.Datacenter, Datastore: c.Datastore, ResourcePool: c.ResourcePool, Folder: c.Folder}, opts...)
	if err != nil {
		logout()
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, logout, nil
}

// redact removes u's password from s.
func redact(s string, u *url.URL) string {
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
		s = strings.ReplaceAll(s, url.QueryEscape(p), "xxxxx")
	}
	return s
}
