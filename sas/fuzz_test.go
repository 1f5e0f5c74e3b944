package sas

import (
	"bytes"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; `go test` replays them
// on every run, and `go test -fuzz=<FuzzName>` grows them.

// FuzzParse checks that Parse never panics, never quotes a signature in an
// error or a printed token, and that what it accepts reads back the same.
func FuzzParse(f *testing.F) {
	f.Add("?sv=2025-11-05&sp=r&se=2030-01-02T03:04:05Z&sr=b&sig=" + testSigEscaped)
	f.Add("sv=2025-11-05&ss=b&srt=sco&sp=rl&se=2030-01-01&sig=" + testSigEscaped)
	// Tokens that parse: every known answer, as its source wrote it.
	for _, v := range loadVectors(f) {
		token := v.tokenAsWritten()
		_, err := Parse(token)
		require.NoError(f, err, "the known answer %s does not parse", v.Name)
		f.Add(token)
		f.Add("?" + token)
	}
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := Parse(token)
		sig := sigValue(token)
		if err != nil {
			assert.Nil(t, tok, "a token came back with the error")
			if sig != "" {
				assert.NotContains(t, err.Error(), sig, "the error quotes sig")
			}
			assert.LessOrEqual(t, len(err.Error()), 400, "an input can flood the log: error %q", err)
			return
		}
		printed := tok.String() + tok.GoString() + tok.Redacted()
		require.NotEmpty(t, tok.signature.Reveal(), "an accepted token has a sig")
		assert.NotContains(t, printed, tok.signature.Reveal(), "the printed token shows sig")
		again, err := Parse(tok.Token().Encode())
		require.NoError(t, err, "accepted %q, but not its own Token()", token)
		assert.Equal(t, tok.Kind, again.Kind, "reparse: kind")
		assert.Equal(t, tok.Permissions, again.Permissions, "reparse: permissions")
		assert.Equal(t, tok.AccountPerms, again.AccountPerms, "reparse: account permissions")
		assert.Equal(t, tok.Expiry, again.Expiry, "reparse: expiry")
		assert.Equal(t, tok.Resource, again.Resource, "reparse: resource")
		assert.Equal(t, tok.signature.Reveal(), again.signature.Reveal(), "reparse: sig")
		if tok.ReadOnly() && tok.Kind != KindAccount {
			assert.True(t, tok.Permissions.ReadOnly(), "ReadOnly disagrees with Permissions")
		}
	})
}

// sigValue returns the decoded sig of a token-like string, or "" when it has
// none worth looking for (short values occur in any text by chance).
func sigValue(token string) string {
	for part := range strings.SplitSeq(strings.TrimPrefix(token, "?"), "&") {
		name, value, _ := strings.Cut(part, "=")
		if name == "sig" && len(value) >= 8 {
			if v, err := url.QueryUnescape(value); err == nil && len(v) >= 8 {
				return v
			}
			return value
		}
	}
	return ""
}

// FuzzParseConnectionString checks that parsing never panics and that no
// error ever quotes the account key or a SAS signature.
func FuzzParseConnectionString(f *testing.F) {
	f.Add("DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=" + exampleKey + ";EndpointSuffix=core.windows.net")
	f.Add("UseDevelopmentStorage=true")
	// The forms the Azure portal, Azurite and a SAS give, each accepted.
	for _, cs := range []string{
		"DefaultEndpointsProtocol=http;AccountName=" + DevAccountName + ";AccountKey=" + DevAccountKey + ";BlobEndpoint=http://127.0.0.1:10000/" + DevAccountName + ";",
		"DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=" + exampleKey + ";EndpointSuffix=core.chinacloudapi.cn",
		"BlobEndpoint=https://mystorage.blob.core.windows.net/;SharedAccessSignature=sv=2025-11-05&ss=b&srt=sco&sp=rl&se=2030-01-01&sig=" + testSigEscaped,
		"BlobEndpoint=https://cdn.example.com;AccountName=mystorage;AccountKey=" + exampleKey,
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1",
	} {
		_, err := ParseConnectionString(cs)
		require.NoError(f, err, "a connection string of the usual forms is refused")
		f.Add(cs)
	}
	f.Fuzz(func(t *testing.T, cs string) {
		c, err := ParseConnectionString(cs)
		if err != nil {
			assert.Nil(t, c, "a result came back with the error")
			msg := err.Error()
			for part := range strings.SplitSeq(cs, ";") {
				name, value, _ := strings.Cut(part, "=")
				name = strings.ToLower(strings.TrimSpace(name))
				value = strings.TrimSpace(value)
				if (name == "accountkey" || name == "sharedaccesssignature") && len(value) >= 8 {
					assert.NotContains(t, msg, value, "the error quotes the %s", name)
				}
			}
			if sig := sigValue(cs); sig != "" {
				assert.NotContains(t, msg, sig, "the error quotes sig")
			}
			return
		}
		require.False(t, c.BlobEndpoint.IsZero(), "accepted with no blob endpoint")
		again, err := ParseBlobEndpoint(c.BlobEndpoint.String())
		if assert.NoError(t, err, "endpoint %q does not parse", c.BlobEndpoint.String()) {
			assert.True(t, again.Equal(c.BlobEndpoint), "endpoint %q reads back as %q", c.BlobEndpoint.String(), again.String())
		}
		assert.False(t, c.Key != nil && c.SAS != nil, "two credentials")
	})
}

// FuzzParsePermissions checks the permission parsers against a plain
// reading of the rules: distinct letters from the resource's alphabet,
// printed back in canonical order.
func FuzzParsePermissions(f *testing.F) {
	f.Add(uint8(0), "rw")
	f.Add(uint8(1), "lr")
	f.Add(uint8(5), "rwdlacup")
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		alphabets := []struct {
			order string
			parse func(string) (string, error)
		}{
			{blobLetters, func(s string) (string, error) { p, err := ParsePermissions(ResourceBlob, s); return p.String(), err }},
			{containerLetters, func(s string) (string, error) {
				p, err := ParsePermissions(ResourceContainer, s)
				return p.String(), err
			}},
			{directoryLetters, func(s string) (string, error) {
				p, err := ParsePermissions(ResourceDirectory, s)
				return p.String(), err
			}},
			{servicesLetters, func(s string) (string, error) { p, err := ParseServices(s); return p.String(), err }},
			{resourceTypeLetters, func(s string) (string, error) { p, err := ParseResourceTypes(s); return p.String(), err }},
			{accountLetters, func(s string) (string, error) { p, err := ParseAccountPermissions(s); return p.String(), err }},
		}
		a := alphabets[int(which)%len(alphabets)]
		got, err := a.parse(s)

		valid := s != ""
		seen := map[rune]bool{}
		for _, r := range s {
			if seen[r] || !strings.ContainsRune(a.order, r) {
				valid = false
			}
			seen[r] = true
		}
		if !valid {
			assert.Error(t, err, "%q in %q: the rules say it is not valid", s, a.order)
			return
		}
		require.NoError(t, err, "%q in %q: the rules say it is valid", s, a.order)
		var want strings.Builder
		for _, r := range a.order {
			if seen[r] {
				want.WriteRune(r)
			}
		}
		assert.Equal(t, want.String(), got, "%q printed", s)
	})
}

// FuzzSignMatchesSDK signs the newest layout with this package and with the
// Azure SDK for Go (which signs only that layout) and compares signatures.
func FuzzSignMatchesSDK(f *testing.F) {
	f.Add("photos", "2024/holiday/IMG 0001+x.jpg", uint16(1), int64(1767225600), int64(3600), false, "", "", uint8(0), "", "", "", "", "", "")
	f.Add("$root", "a#b?c;d=e&f%20g", uint16(0x3ff), int64(1767225600), int64(60), true, "policy", "10.1.2.3", uint8(1), "inline", "gzip", "de-DE", "no-cache", "image/webp", "scope1")
	f.Add("media", "", uint16(0x3), int64(1767225600), int64(86400), false, "", "", uint8(2), "", "", "", "", "", "")
	key := devKey(f)
	cred, err := azblob.NewSharedKeyCredential(DevAccountName, DevAccountKey)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, container, blob string, permBits uint16, startUnix, lifeSeconds int64, withStart bool,
		identifier, ip string, protocol uint8, disposition, encoding, language, cacheControl, contentType, scope string) {
		resource := ResourceBlob
		letters := blobLetters
		if blob == "" {
			resource, letters = ResourceContainer, containerLetters
		}
		var perms Permissions
		for i := range len(letters) {
			if permBits&(1<<i) != 0 {
				perms |= Permissions(1) << (letters[i] - 'a')
			}
		}
		start := time.Unix(startUnix%(4e9), 0).UTC()
		expiry := start.Add(time.Duration(lifeSeconds%(1<<31)) * time.Second)
		ours := ServiceValues{
			Version: VersionLatest, Resource: resource, Permissions: perms, Expiry: expiry,
			Identifier: identifier, IPRange: ip, Protocol: [...]Protocol{ProtocolAny, ProtocolHTTPS, ProtocolHTTPSHTTP}[protocol%3],
			Container: container, Blob: blob, EncryptionScope: scope, CacheControl: cacheControl,
			ContentDisposition: disposition, ContentEncoding: encoding, ContentLanguage: language, ContentType: contentType,
		}
		if withStart {
			ours.Start = start
		}
		q, err := ours.Sign(key)
		reason := signRefusal(ours)
		if err != nil {
			// The SDK signs almost anything; we refuse only what a
			// documented rule refuses.
			require.NotEmpty(t, reason, "refused with no documented reason: %v", err)
			return
		}
		require.Empty(t, reason, "signed although a documented rule refuses it")
		theirs := azsas.BlobSignatureValues{
			Version: VersionLatest, Protocol: azsas.Protocol(ours.Protocol), StartTime: ours.Start, ExpiryTime: expiry,
			Permissions: perms.String(), Identifier: identifier, ContainerName: container, BlobName: blob,
			CacheControl: cacheControl, ContentDisposition: disposition, ContentEncoding: encoding,
			ContentLanguage: language, ContentType: contentType, EncryptionScope: scope,
		}
		if first, last, ok := strings.Cut(ip, "-"); ok {
			theirs.IPRange = azsas.IPRange{Start: net.ParseIP(first), End: net.ParseIP(last)}
		} else if ip != "" {
			theirs.IPRange = azsas.IPRange{Start: net.ParseIP(ip)}
		}
		want, err := theirs.SignWithSharedKey(cred)
		require.NoError(t, err, "we signed what the SDK refuses")
		got, err := url.ParseQuery(q.Encode())
		require.NoError(t, err, "our token")
		assert.Equal(t, want.Signature(), got.Get("sig"), "sig")
		sdkParams, err := url.ParseQuery(want.Encode())
		require.NoError(t, err, "the SDK's token")
		for name := range sdkParams {
			assert.Equal(t, sdkParams.Get(name), got.Get(name), "%s", name)
		}
	})
}

// signRefusal says which documented rule refuses to sign v, or "" when
// none does: Azure's naming rules for containers (3 to 63 lowercase
// letters, digits and single inner hyphens, or $root, $web, $logs) and
// blobs (1 to 1,024 characters of UTF-8 without control characters), no
// permissions without a stored access policy, an expiry not after the
// start, an IP range that is not IPv4, or a control character in a signed
// text field. It is written
// apart from the signer's own checks, as the docs say them.
func signRefusal(v ServiceValues) string {
	switch {
	case !namedLikeAContainer(v.Container):
		return "container name"
	case v.Blob != "" && (!utf8.ValidString(v.Blob) || holdsControl(v.Blob) || utf8.RuneCountInString(v.Blob) > 1024):
		return "blob name"
	case v.Identifier == "" && v.Permissions == 0:
		return "no permissions and no stored access policy"
	case !v.Start.IsZero() && !v.Expiry.After(v.Start):
		return "expiry not after start"
	case v.IPRange != "" && !anIPv4Range(v.IPRange):
		return "an IP range that is not one IPv4 address or two in order"
	}
	for _, text := range []string{v.Identifier, v.IPRange, v.EncryptionScope, v.CacheControl, v.ContentDisposition,
		v.ContentEncoding, v.ContentLanguage, v.ContentType} {
		if holdsControl(text) {
			return "a control character in a signed field"
		}
	}
	return ""
}

// anIPv4Range reports whether s is an IPv4 address, or two joined by '-'
// with the first not after the second.
func anIPv4Range(s string) bool {
	ipv4 := func(s string) net.IP {
		if strings.Contains(s, ":") {
			return nil // an IPv6 form, even of an IPv4 address
		}
		return net.ParseIP(s).To4()
	}
	first, last, isRange := strings.Cut(s, "-")
	a := ipv4(first)
	if !isRange {
		return a != nil
	}
	b := ipv4(last)
	return a != nil && b != nil && bytes.Compare(a, b) <= 0
}

// containerName is Azure's rule for a container's name, length aside.
var containerName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func namedLikeAContainer(name string) bool {
	switch name {
	case "$root", "$web", "$logs":
		return true
	}
	return len(name) >= 3 && len(name) <= 63 && containerName.MatchString(name)
}

// holdsControl reports a C0 control character, DEL or a C1 control
// character (U+0080 to U+009F).
func holdsControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f })
}
