//go:build !hardvm_noazure

package main

import (
	"context"
	"net/url"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/azure"
)

func init() { openers["azure"] = openAzureCtx }

func openAzureCtx(_ context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	return openAzure(c)
}

// staticToken is an azcore.TokenCredential returning a bearer token read
// from the environment (azidentity is not served by this build's module
// proxy, so there is no DefaultAzureCredential chain here).
type staticToken struct{ token string }

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func openAzure(c *targetConfig) (catalog.Registrar, func(), error) {
	tokenEnv := cmp(c.TokenEnv, envAzureToken)
	sasEnv := cmp(c.ContainerSASEnv, envAzureSAS)
	token := os.Getenv(tokenEnv)
	if token == "" {
		return nil, nil, usagef("%s: $%s holds no ARM bearer token (e.g. az account get-access-token --query accessToken -o tsv)", c.where(), tokenEnv)
	}
	sas := os.Getenv(sasEnv)
	if sas == "" {
		return nil, nil, usagef("%s: $%s holds no blob container SAS URL", c.where(), sasEnv)
	}
	u, err := url.Parse(sas)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Never echo the value: it holds a signature.
		return nil, nil, usagef("%s: $%s is not a container URL", c.where(), sasEnv)
	}
	ctr, err := azure.NewContainer(sas, nil)
	if err != nil {
		return nil, nil, usagef("%s: $%s is not a container URL", c.where(), sasEnv)
	}
	r, err := azure.New(azure.Config{
		SubscriptionID: c.SubscriptionID, ResourceGroup: c.ResourceGroup, Gallery: c.Gallery,
		Location: c.Location, Regions: c.Regions, Container: ctr, StorageAccountID: c.StorageAccountID,
		Credential: staticToken{token}, Publisher: c.Publisher,
	})
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}
