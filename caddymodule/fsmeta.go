package caddymodule

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
)

// What a Filesystem learns of a path is kept this long, within this many
// bytes: file_server asks several times about the same names within one
// request (try_files, index files, precompressed sidecars), and a page
// loads many names at once. A blob replaced within metadataTTL is refused
// by its If-Match rather than served with the old size.
const (
	metadataTTL      = 5 * time.Second
	metadataMaxBytes = 4 << 20
)

// metadataCache keeps what a Filesystem learnt: blobInfos by blob name,
// missingInfo included, and the first page of a folder's listing by its
// prefix. It loads a name once however many ask for it at the same time.
type metadataCache struct {
	infos *otter.Cache[string, *blobInfo]
	pages *otter.Cache[string, *folderPage]
}

// folderPage is the first page of a folder's listing: its entries by
// name (a blob before a folder of the same name), in Azure's order, and
// the marker of the next page ("" when the page is the whole folder).
type folderPage struct {
	byName  map[string]*blobInfo
	entries []*blobInfo
	next    string
	weight  uint32
}

func newMetadataCache() *metadataCache {
	return &metadataCache{
		infos: otter.Must(&otter.Options[string, *blobInfo]{
			MaximumWeight:    metadataMaxBytes / 2,
			Weigher:          func(key string, info *blobInfo) uint32 { return info.weight(key) },
			ExpiryCalculator: otter.ExpiryWriting[string, *blobInfo](metadataTTL),
		}),
		pages: otter.Must(&otter.Options[string, *folderPage]{
			MaximumWeight:    metadataMaxBytes / 2,
			Weigher:          func(key string, page *folderPage) uint32 { return uint32(len(key)) + page.weight },
			ExpiryCalculator: otter.ExpiryWriting[string, *folderPage](metadataTTL),
		}),
	}
}

// newFolderPage indexes a listing's first page.
func newFolderPage(page listing) *folderPage {
	p := &folderPage{byName: make(map[string]*blobInfo, len(page.entries)), next: page.next, weight: 64}
	for _, e := range page.entries {
		info := e.(*blobInfo)
		p.entries = append(p.entries, info)
		if seen, ok := p.byName[info.name]; !ok || seen.dir {
			p.byName[info.name] = info
		}
		p.weight += info.weight(info.name)
	}
	return p
}

// get returns what is known of blob, asking load when nothing is.
func (m *metadataCache) get(blob string, load func() (*blobInfo, error)) (*blobInfo, error) {
	return m.infos.Get(context.Background(), blob, otter.LoaderFunc[string, *blobInfo](func(context.Context, string) (*blobInfo, error) {
		return load()
	}))
}

// page returns the first page of the folder prefix, when it is kept.
func (m *metadataCache) page(prefix string) (*folderPage, bool) {
	return m.pages.GetIfPresent(prefix)
}

// putPage keeps the first page of the folder prefix.
func (m *metadataCache) putPage(prefix string, page *folderPage) {
	m.pages.Set(prefix, page)
}

// forget drops what was known of blob, and the page of its folder: it
// changed.
func (m *metadataCache) forget(blob, folder string) {
	m.infos.Invalidate(blob)
	m.pages.Invalidate(folder)
}
