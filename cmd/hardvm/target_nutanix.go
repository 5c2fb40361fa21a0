//go:build !hardvm_nonutanix

package main

import (
	"context"
	"os"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/nutanix"
)

func init() { openers["nutanix"] = openNutanixCtx }

func openNutanixCtx(_ context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	return openNutanix(c)
}

func openNutanix(c *targetConfig) (catalog.Registrar, func(), error) {
	user := os.Getenv(envNutanixUser)
	if user == "" {
		return nil, nil, usagef("%s: no user: set $%s and $%s", c.where(), envNutanixUser, envNutanixPassword)
	}
	r, err := nutanix.New(nutanix.Config{Endpoint: c.Endpoint, Username: user, Password: os.Getenv(envNutanixPassword)})
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}
