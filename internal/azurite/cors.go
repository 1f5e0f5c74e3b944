package azurite

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// AllowBrowsers sets the blob service's CORS rule, as a storage account's
// owner would for a page on origin that uploads and reads blobs straight
// from the browser: PUT with the headers an upload sends, GET and HEAD, and
// ETag readable by the page.
func (s *Server) AllowBrowsers(t testing.TB, origin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := s.client.ServiceClient().SetProperties(ctx, &service.SetPropertiesOptions{CORS: BrowserCORS(origin)})
	if err != nil {
		t.Fatalf("azurite: set the CORS rule: %v", err)
	}
}

// ReaderCORS is the rule docs/azure_blob.md gives for redirects read by a
// page of origin: it may GET and HEAD, ask for ranges, and read their
// length, range and version.
func ReaderCORS(origin string) []*service.CORSRule {
	return []*service.CORSRule{{
		AllowedOrigins:  to.Ptr(origin),
		AllowedMethods:  to.Ptr("GET,HEAD"),
		AllowedHeaders:  to.Ptr("range"),
		ExposedHeaders:  to.Ptr("content-length,content-range,accept-ranges,etag"),
		MaxAgeInSeconds: to.Ptr(int32(3600)),
	}}
}

// BrowserCORS is the CORS rule AllowBrowsers sets, for a program that sets
// it with a client of its own (./xcaddy.sh demo).
func BrowserCORS(origin string) []*service.CORSRule {
	return []*service.CORSRule{{
		AllowedOrigins:  to.Ptr(origin),
		AllowedMethods:  to.Ptr("PUT,GET,HEAD"),
		AllowedHeaders:  to.Ptr("x-ms-blob-type,x-ms-version,content-type"),
		ExposedHeaders:  to.Ptr("etag"),
		MaxAgeInSeconds: to.Ptr(int32(60)),
	}}
}
