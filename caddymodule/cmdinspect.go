package caddymodule

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// inspectCommand is `caddy azure-sas inspect`.
func inspectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect -|<url or token>",
		Short: "Shows what a SAS token grants, without its signature",
		Long: `
Prints every field of a SAS token, or of the token of a blob or container
URL: kind, version, resource, the permissions and what they allow, start,
expiry and how long is left, IP range, protocol, stored policy, response
header overrides, and for an account SAS its services and resource types.
For a URL it also prints the account, container and blob. The signature is
never printed.

Give - to read the URL or token from standard input: a token there stays
out of the process list and the shell's history, which an argument does
not. An argument must be quoted: a URL holds '&'.`,
		Example: `  caddy azure-sas inspect - <token.txt
  pbpaste | caddy azure-sas inspect -
  caddy azure-sas inspect 'sv=…&sr=c&sp=rl&se=…&sig=…'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("inspect takes one argument, - or a SAS URL or token, not %d", len(args))
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = runWith(func(_ caddycmd.Flags, args []string, out, _ io.Writer) error {
		arg := args[0]
		if arg == "-" {
			var err error
			if arg, err = readInspectInput(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		return runInspect(arg, time.Now(), out)
	})
	return cmd
}

// maxInspectInput bounds what inspect reads from standard input: a SAS URL
// is a few kilobytes at most.
const maxInspectInput = 64 << 10

// readInspectInput reads the URL or token inspect - is given on standard
// input. Its errors never quote what was read.
func readInspectInput(in io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(in, maxInspectInput+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("reading standard input: %v", err)
	case len(data) > maxInspectInput:
		return "", fmt.Errorf("standard input holds more than %d KiB: give one SAS URL or token", maxInspectInput>>10)
	case strings.TrimSpace(string(data)) == "":
		return "", errors.New("standard input is empty: give a SAS URL or token on it")
	}
	return strings.TrimSpace(string(data)), nil
}

// runInspect writes what the SAS URL or token arg grants to out. The
// signature is never written, nor quoted in an error.
func runInspect(arg string, now time.Time, out io.Writer) error {
	token := strings.TrimSpace(arg)
	if err := refuseKey(token); err != nil {
		return err
	}
	var loc *sas.BlobURL
	if lower := strings.ToLower(token); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		var err error
		if loc, err = sas.ParseBlobURL(token); err != nil {
			return fmt.Errorf("the argument starts like a URL but is %w", err)
		}
		if loc.Token.IsZero() {
			return errors.New("the URL carries no SAS token: its query has none of sv, sp, se, sig …")
		}
		token = loc.Token.Encode()
	}
	tok, err := sas.Parse(token)
	if err != nil {
		return fmt.Errorf("malformed SAS token: %w", err)
	}
	w := &inspectWriter{}
	w.location(loc)
	w.token(tok, now)
	_, err = io.WriteString(out, w.String())
	return err
}

// refuseKey says so when s is an account key, or a connection string that
// holds one, rather than a SAS: a hint about a malformed token would leave
// the user believing a key is something to paste around. Nothing of s is
// quoted.
func refuseKey(s string) error {
	const rotate = "keys are secrets that open the whole account, so it was not printed; " +
		"if it was pasted where others can see it, rotate it (az storage account keys renew)"
	// A URL's path may hold anything; a token's parameters never this.
	if lower := strings.ToLower(s); strings.Contains(lower, "accountkey=") && !strings.HasPrefix(lower, "http") {
		return errors.New("this looks like a connection string with an account key, not a SAS token or URL: " + rotate)
	}
	if key, err := base64.StdEncoding.DecodeString(s); err == nil && len(key) == accountKeyBytes {
		return errors.New("this looks like an account key, not a SAS token or URL: " + rotate)
	}
	return nil
}

// accountKeyBytes is the length of a storage account key, decoded.
const accountKeyBytes = 64

// inspectWriter lays out the fields, one "name  value" line each.
type inspectWriter struct{ strings.Builder }

func (w *inspectWriter) field(name, format string, args ...any) {
	fmt.Fprintf(w, "%-15s "+format+"\n", append([]any{name}, args...)...)
}

// detail writes an indented line under the last field.
func (w *inspectWriter) detail(format string, args ...any) {
	fmt.Fprintf(w, "%-15s   "+format+"\n", append([]any{""}, args...)...)
}

func (w *inspectWriter) location(loc *sas.BlobURL) {
	if loc == nil {
		return
	}
	w.field("url", "%s", loc.Address)
	account := orNone(loc.Account, "none in the URL")
	if loc.PathStyle {
		account += " (from the path, as on Azurite)"
	}
	w.field("account", "%s", account)
	w.field("container", "%s", orNone(loc.Container, "none in the URL"))
	w.field("blob", "%s", orNone(loc.Blob, "none: the URL is for the container"))
	if len(loc.OtherParams) > 0 {
		names := make([]string, len(loc.OtherParams))
		for i, name := range loc.OtherParams {
			names[i] = orNone(name, "(a parameter with an unreadable name)")
		}
		w.field("request params", "%s (in the URL, not part of the SAS)", strings.Join(names, ", "))
	}
}

func (w *inspectWriter) token(tok *sas.ParsedToken, now time.Time) {
	w.field("kind", "%s", kindText[tok.Kind])
	if tok.Version == sas.VersionLegacy {
		w.field("version", "none (the %s format, before signed versions)", sas.VersionLegacy)
	} else {
		w.field("version", "%s", tok.Version)
	}
	if tok.Kind == sas.KindAccount {
		w.letters("services", tok.Services.String(), serviceNames)
		w.letters("resource types", tok.ResourceTypes.String(), resourceTypeNames)
		w.permissions(tok, tok.AccountPerms.String(), accountPermNames)
	} else {
		w.field("resource", "%s: %s", tok.Resource, resourceText[tok.Resource])
		if tok.DirectoryDepth != "" {
			w.field("directory depth", "%s (sdd)", tok.DirectoryDepth)
		}
		w.permissions(tok, tok.Permissions.String(), servicePermNames)
	}
	w.times(tok, now)
	w.field("ip", "%s", orNone(tok.IPRange, "any address"))
	w.field("protocol", "%s", protocolText[tok.Protocol])
	if tok.Identifier != "" {
		w.field("policy", "%s (stored access policy on the container: it can set sp, st and se, and revoke the token)", tok.Identifier)
	} else if tok.Kind != sas.KindAccount {
		w.field("policy", "none")
	}
	if tok.EncryptionScope != "" {
		w.field("encryption", "scope %s (ses)", tok.EncryptionScope)
	}
	w.overrides(tok)
	for _, name := range delegationOrder {
		if v, ok := tok.Delegation[name]; ok {
			w.field(name, "%s (%s)", v, delegationText[name])
		}
	}
	w.field("signature", "%s (never printed)", sas.Redacted)
	w.field("token", "%s", tok.Redacted())
}

// permissions writes sp in canonical order with what each letter allows.
func (w *inspectWriter) permissions(tok *sas.ParsedToken, canonical string, meaning map[byte]string) {
	if tok.PermissionString() == "" {
		w.field("permissions", "not in the token: stored access policy %s sets them", tok.Identifier)
		return
	}
	w.letters("permissions", canonical, meaning)
	if tok.ReadOnly() {
		w.field("access", "read-only")
	} else {
		w.field("access", "can change data")
	}
}

func (w *inspectWriter) letters(name, letters string, meaning map[byte]string) {
	w.field(name, "%s", letters)
	for i := 0; i < len(letters); i++ {
		w.detail("%c  %s", letters[i], meaning[letters[i]])
	}
}

func (w *inspectWriter) times(tok *sas.ParsedToken, now time.Time) {
	switch {
	case tok.Start.IsZero():
		w.field("start", "not set: valid at once")
	case tok.Start.After(now):
		w.field("start", "%s (not valid yet: starts in %s)", tok.Start.Format(time.RFC3339), humanDuration(tok.Start.Sub(now)))
	default:
		w.field("start", "%s (%s ago)", tok.Start.Format(time.RFC3339), humanDuration(now.Sub(tok.Start)))
	}
	switch left := tok.Remaining(now); {
	case tok.Expiry.IsZero():
		w.field("expiry", "not in the token: stored access policy %s sets it", tok.Identifier)
	case left > 0:
		w.field("expiry", "%s (expires in %s)", tok.Expiry.Format(time.RFC3339), humanDuration(left))
	default:
		w.field("expiry", "%s (EXPIRED %s ago)", tok.Expiry.Format(time.RFC3339), humanDuration(-left))
	}
}

func (w *inspectWriter) overrides(tok *sas.ParsedToken) {
	if tok.Kind == sas.KindAccount {
		return
	}
	headers := []struct{ param, header, value string }{
		{"rscc", "Cache-Control", tok.CacheControl},
		{"rscd", "Content-Disposition", tok.ContentDisposition},
		{"rsce", "Content-Encoding", tok.ContentEncoding},
		{"rscl", "Content-Language", tok.ContentLanguage},
		{"rsct", "Content-Type", tok.ContentType},
	}
	name := "overrides"
	for _, h := range headers {
		if h.value != "" {
			w.field(name, "%s: %s (%s)", h.header, h.value, h.param)
			name = ""
		}
	}
	if name != "" {
		w.field(name, "none")
	}
}

func orNone(value, none string) string {
	if value == "" {
		return none
	}
	return value
}

var kindText = map[sas.Kind]string{
	sas.KindService:        "service SAS (signed with an account key)",
	sas.KindUserDelegation: "user-delegation SAS (signed with a user delegation key from Microsoft Entra ID)",
	sas.KindAccount:        "account SAS (signed with an account key, for whole services)",
}

var resourceText = map[sas.Resource]string{
	sas.ResourceBlob:      "one blob (sr=b)",
	sas.ResourceContainer: "every blob in the container (sr=c)",
	sas.ResourceSnapshot:  "one blob snapshot (sr=bs; requests carry ?snapshot=)",
	sas.ResourceVersion:   "one blob version (sr=bv; requests carry ?versionid=)",
	sas.ResourceDirectory: "a directory and what it holds (sr=d, hierarchical namespace)",
}

var protocolText = map[sas.Protocol]string{
	sas.ProtocolAny:       "https or http (not restricted)",
	sas.ProtocolHTTPS:     "https only",
	sas.ProtocolHTTPSHTTP: "https or http",
}

var servicePermNames = map[byte]string{
	'r': "read: content, properties, metadata and block list",
	'a': "add: append blocks to an append blob",
	'c': "create: write a new blob, snapshot a blob, copy into a new blob",
	'w': "write: create or overwrite content, properties, metadata, block list",
	'd': "delete: delete a blob",
	'x': "delete version: delete a blob version",
	'y': "permanent delete: permanently delete a snapshot or version",
	'l': "list: list the blobs of the container",
	't': "tags: read and write blob index tags",
	'f': "find: find blobs by index tags",
	'm': "move: move or rename a blob or directory (hierarchical namespace)",
	'e': "execute: read system properties (and the POSIX ACL with a hierarchical namespace)",
	'o': "ownership: set the owner or owning group (hierarchical namespace)",
	'p': "permissions: set permissions and POSIX ACLs (hierarchical namespace)",
	'i': "immutability: set or delete an immutability policy or legal hold",
}

var accountPermNames = map[byte]string{
	'r': "read: read resources of the allowed services and types",
	'w': "write: write resources",
	'd': "delete: delete resources",
	'x': "delete version: delete a blob version",
	'y': "permanent delete: permanently delete a snapshot or version",
	'l': "list: list containers, blobs, shares, queues, tables",
	'a': "add: append blocks, add queue messages and table entities",
	'c': "create: create new blobs and files",
	'u': "update: update queue messages and table entities",
	'p': "process: read and delete queue messages",
	'f': "filter: find blobs by index tags",
	't': "tags: read and write blob index tags",
	'i': "immutability: set or delete immutability policies and legal holds",
}

var serviceNames = map[byte]string{'b': "blob", 'f': "file", 'q': "queue", 't': "table"}

var resourceTypeNames = map[byte]string{
	's': "service: service-level APIs (list containers …)",
	'c': "container: container-level APIs",
	'o': "object: blob-level APIs",
}

var delegationOrder = [...]string{"skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "skdutid", "sduoid", "srh", "srq"}

var delegationText = map[string]string{
	"skoid": "signing key's object id", "sktid": "signing key's tenant id",
	"skt": "signing key start", "ske": "signing key expiry", "sks": "signing key service", "skv": "signing key version",
	"saoid": "authorized object id", "suoid": "unauthorized object id", "scid": "correlation id",
	"skdutid": "delegated user's tenant id", "sduoid": "delegated user's object id",
	"srh": "signed request headers", "srq": "signed request query parameters",
}
