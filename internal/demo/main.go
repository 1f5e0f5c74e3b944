// Command demo seeds a running Azurite with the sample media, the way
// ./xcaddy.sh demo serves them through Caddyfile.example: images/ into the
// private container photos, video/ into the private container media under
// public/. It prints the URLs the demo site serves, one a line. With
// -uploads, it also makes the private container uploads and lets browsers
// on that origin upload to Azurite (CORS), for the upload page; with
// -cors, a page of that origin read the redirected blobs. With
// -files, it also fills the private container site with that folder and
// the media under files/, the site testdata/demo/Caddyfile serves with
// file_server over the azure_blob filesystem.
//
//	go run ./internal/demo -endpoint http://127.0.0.1:10000/devstoreaccount1 -media testdata/media -site http://localhost:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// origin is one container of the demo site, as Caddyfile.example maps it.
type origin struct {
	dir, container, prefix, route string
}

var origins = []origin{
	{dir: "images", container: "photos", route: "/images/"},
	{dir: "video", container: "media", prefix: "public/", route: "/media/"},
}

func main() {
	endpoint := flag.String("endpoint", "", "Azurite's blob endpoint, with the account in the path")
	media := flag.String("media", "testdata/media", "folder of sample media")
	site := flag.String("site", "http://localhost:8080", "address the demo site is served on")
	uploads := flag.String("uploads", "", "origin of the upload page, allowed to upload to the container uploads")
	files := flag.String("files", "", "folder of the site served from the container site")
	reader := flag.String("cors", "", "origin of a page that reads the redirected blobs (a CORS rule for reads)")
	flag.Parse()
	if *endpoint == "" {
		log.Fatal("demo: -endpoint is required")
	}
	client, err := azurite.NewClient(strings.TrimRight(*endpoint, "/"), sas.DevAccountName, sas.DevAccountKey)
	if err != nil {
		log.Fatalf("demo: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rules []*service.CORSRule
	if *uploads != "" {
		if _, err := client.CreateContainer(ctx, "uploads", nil); err != nil {
			log.Fatalf("demo: create container uploads: %v", err)
		}
		rules = append(rules, azurite.BrowserCORS(*uploads)...)
	}
	if *reader != "" {
		rules = append(rules, azurite.ReaderCORS(*reader)...)
	}
	if len(rules) > 0 {
		if _, err := client.ServiceClient().SetProperties(ctx, &service.SetPropertiesOptions{CORS: rules}); err != nil {
			log.Fatalf("demo: set the CORS rules: %v", err)
		}
	}
	for _, o := range origins {
		// No public access option: the containers are private.
		if _, err := client.CreateContainer(ctx, o.container, nil); err != nil {
			log.Fatalf("demo: create container %s: %v", o.container, err)
		}
		err := uploadFolder(ctx, client, filepath.Join(*media, o.dir), o.container, o.prefix, func(rel string) {
			fmt.Println(*site + o.route + escapePath(rel))
		})
		if err != nil {
			log.Fatalf("demo: %v", err)
		}
	}
	if *files != "" {
		if _, err := client.CreateContainer(ctx, "site", nil); err != nil {
			log.Fatalf("demo: create container site: %v", err)
		}
		for _, folder := range []struct{ dir, prefix string }{{*files, ""}, {*media, "files/"}} {
			if err := uploadFolder(ctx, client, folder.dir, "site", folder.prefix, func(string) {}); err != nil {
				log.Fatalf("demo: %v", err)
			}
		}
	}
}

// uploadFolder uploads the files below root into container under prefix,
// each with the type of its extension, and calls uploaded with each name
// below root. A README.md is left out.
func uploadFolder(ctx context.Context, client *azblob.Client, root, container, prefix string, uploaded func(rel string)) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "README.md" {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		opts := &blockblob.UploadBufferOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType(rel))}}
		if _, err := client.UploadBuffer(ctx, container, prefix+rel, data, opts); err != nil {
			return fmt.Errorf("upload %s: %w", rel, err)
		}
		uploaded(rel)
		return nil
	})
}

func contentType(name string) string {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".webm":
		return "video/webm"
	case ".mp4":
		return "video/mp4"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return "application/octet-stream"
}

func escapePath(name string) string {
	segments := strings.Split(name, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return strings.Join(segments, "/")
}
