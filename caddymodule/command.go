package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "azure-sas",
		Usage: "sign|inspect",
		Short: "Signs Azure Blob Storage SAS URLs and inspects SAS tokens",
		Long: `
Signs service SAS URLs for a blob or a container of Azure Blob Storage, and
shows what an existing SAS token grants.

  caddy azure-sas sign --container media --blob in/clip.mp4 --permissions r --expiry 1h
  caddy azure-sas sign --container media --blob out/clip.mp4 --permissions cw --expiry 2h
  caddy azure-sas inspect -    (reads the URL or token from standard input)

The account key is read from the environment, never from a flag:
` + envHelp,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(signCommand(), inspectCommand())
			// An unknown subcommand is an error (not quoted: it may be a
			// pasted secret), not a page of help and success.
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return errors.New("unknown subcommand: use sign or inspect (see --help)")
				}
				return cmd.Help()
			}
		},
	})
}

// envHelp tells where the credential comes from; the help of the command
// and of sign ends with it.
const envHelp = `
  AZURE_STORAGE_CONNECTION_STRING   a connection string with AccountKey
                                    (UseDevelopmentStorage=true for Azurite), or
  AZURE_STORAGE_ACCOUNT             the account name and
  AZURE_STORAGE_KEY                 its key (base64), and optionally
  AZURE_STORAGE_BLOB_ENDPOINT       the blob endpoint (default
                                    https://<account>.blob.core.windows.net;
                                    Azurite: http://127.0.0.1:10000/devstoreaccount1)`

// signCommand is `caddy azure-sas sign`.
func signCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --container <name> [--blob <name>] --permissions <letters> --expiry <duration|time> [flags]",
		Short: "Prints a signed URL (or token) for a blob or a container",
		Long: `
Prints a URL to a blob (--blob given: sr=b) or a container (sr=c) with a
service SAS signed by the account key, or only the token with --token-only.

--permissions takes the SAS letters: r read, a add, c create, w write,
d delete, x delete version, y permanent delete, l list (container), t tags,
f find by tags (container), m move, e execute, o ownership, p permissions,
i immutability policy. Examples: r to read an input, cw to write an output
(and for a browser upload), rl for a container listing, racwdl for all.

--expiry and --start take a duration from now (30m, 1h, 7d, -15m) or an
RFC3339 time (2030-01-02T15:04:05Z). Leave out --start unless a clock may
lag: a token without one is valid at once. With --policy, the stored access
policy may supply the permissions and the expiry instead.

A token without a stored access policy can be revoked only by rotating the
account key, so sign for no longer than needed: a warning is printed (to
standard error) for one that lives more than 7 days and can change data,
or more than 30 days and only reads; past a year it takes --force. A
token signed with --policy is revoked by changing the policy: no limit.

The endpoint must be https, except on loopback and for Azurite's
devstoreaccount1; --insecure-http takes plain http on a private network
you trust. --https-only is refused for a URL to an http endpoint, which it
could never open.

The account key is read from the environment, never from a flag:
` + envHelp,
		Example: `  caddy azure-sas sign --container media --blob "in/clip 1.mp4" --permissions r --expiry 1h
  caddy azure-sas sign --container media --blob out/clip.mp4 --permissions cw --expiry 2h --https-only
  caddy azure-sas sign --container media --permissions rl --expiry 15m --token-only`,
		Args: noArgs,
	}
	f := cmd.Flags()
	f.String("container", "", "Container name (required)")
	f.String("blob", "", "Blob name, as stored (not URL-escaped); without it the token is for the container")
	f.String("permissions", "", "Permission letters, e.g. r, cw, rl, racwdl")
	f.String("expiry", "", "When the token expires: a duration from now (1h) or an RFC3339 time")
	f.String("start", "", "When the token becomes valid: a duration from now (-15m) or an RFC3339 time")
	f.String("ip", "", "Allowed client IPv4 address or range (1.2.3.4 or 1.2.3.4-1.2.3.9)")
	f.Bool("https-only", false, "Allow only HTTPS requests (spr=https)")
	f.String("version", "", "Signed service version (sv); default: the newest Azure and Azurite accept")
	f.String("policy", "", "Stored access policy id (si) on the container")
	for _, h := range headerFlags(new(sas.ServiceValues)) {
		f.String(h.name, "", http.CanonicalHeaderKey(h.name)+" Azure answers with ("+h.param+")")
	}
	f.Bool("token-only", false, "Print only the token, without the URL")
	f.Bool("insecure-http", false, "Sign for a plain http endpoint other than loopback or Azurite, on a private network you trust")
	f.Bool("force", false, "Sign a token that lives more than a year without a stored access policy")
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = runWith(func(fl caddycmd.Flags, _ []string, out, errOut io.Writer) error {
		return runSign(fl, envCredential, time.Now(), out, errOut)
	})
	return cmd
}

// headerFlag is a flag of sign that sets a response header Azure answers
// with: name is the header's in lowercase, param the SAS parameter, and
// into the field of sas.ServiceValues the flag's value fills.
type headerFlag struct {
	name, param string
	into        *string
}

// headerFlags are sign's response header override flags, each with the
// field of v it fills: the one list that declares the flags and reads
// them, so a new override is one row.
func headerFlags(v *sas.ServiceValues) []headerFlag {
	return []headerFlag{
		{"cache-control", "rscc", &v.CacheControl},
		{"content-type", "rsct", &v.ContentType},
		{"content-disposition", "rscd", &v.ContentDisposition},
		{"content-encoding", "rsce", &v.ContentEncoding},
		{"content-language", "rscl", &v.ContentLanguage},
	}
}

// runWith adapts a subcommand to cobra through Caddy's wrapper, so its
// errors are printed as Caddy prints every command's, and hands it the
// positional arguments and where to write the result (out) and warnings
// (errOut).
func runWith(run func(fl caddycmd.Flags, args []string, out, errOut io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			if err := run(fl, args, cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil {
				return caddy.ExitCodeFailedStartup, err
			}
			return caddy.ExitCodeSuccess, nil
		})(cmd, args)
	}
}

// noArgs refuses positional arguments without quoting them: a pasted key
// or token must not reach the message.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes only flags, yet got %d other argument(s); see --help (the key comes from the environment)", cmd.Name(), len(args))
	}
	return nil
}

// flagError rewords an unknown flag (there is no flag for the key) and a
// bad value, without quoting either: pflag's messages quote the whole
// argument, which may be a pasted secret.
func flagError(_ *cobra.Command, err error) error {
	var invalid *pflag.InvalidValueError
	if errors.As(err, &invalid) {
		return fmt.Errorf("--%s: not a valid value (not quoted here: a value in the wrong flag may be a secret)", invalid.GetFlag().Name)
	}
	var unknown *pflag.NotExistError
	if !errors.As(err, &unknown) {
		return err
	}
	name := "an unknown flag"
	switch n := unknown.GetSpecifiedName(); {
	case unknown.GetSpecifiedShortnames() != "":
		name = "unknown flag -" + n // one letter; the rest of the argument is not quoted
	case n != "" && isPlainName(n):
		name = "unknown flag --" + n
	}
	return fmt.Errorf("%s: the account key and connection string come only from the environment (%s, or %s and %s); see --help",
		name, envConnectionString, envAccount, envKey)
}

// The environment variables the azure-sas command reads its credential
// from; the names are those of the Azure CLI.
const (
	envConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	envAccount          = "AZURE_STORAGE_ACCOUNT"
	envKey              = "AZURE_STORAGE_KEY"
	envBlobEndpoint     = "AZURE_STORAGE_BLOB_ENDPOINT"
)

// errNoEnvCredential says where the key is looked for.
var errNoEnvCredential = fmt.Errorf("no credential in the environment: set %s (with AccountKey), or %s and %s "+
	"(and %s for Azurite or another endpoint); the key is never taken from a flag",
	envConnectionString, envAccount, envKey, envBlobEndpoint)

// signingKey is the account key the command signs with and the blob
// endpoint its URLs point at.
type signingKey struct {
	key          *sas.SharedKey
	endpoint     sas.BlobEndpoint
	endpointFrom string // the variable the endpoint came from, for errors
}

// envCredential reads the credential from the process environment.
func envCredential() (*signingKey, error) {
	return credentialFrom(func(name string) string { return strings.TrimSpace(os.Getenv(name)) })
}

// credentialFrom reads the credential through getenv; an empty variable
// counts as unset. Errors name the variables and never quote a key.
func credentialFrom(getenv func(string) string) (*signingKey, error) {
	connStr, account, key, endpoint := getenv(envConnectionString), getenv(envAccount), getenv(envKey), getenv(envBlobEndpoint)
	where := sas.Where{Account: account, Endpoint: endpoint}
	switch {
	case connStr != "" && key != "":
		return nil, fmt.Errorf("both %s and %s are set; keep one", envConnectionString, envKey)
	case connStr != "":
		cs, err := sas.ParseConnectionString(connStr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envConnectionString, err)
		}
		if cs.Key == nil {
			return nil, fmt.Errorf("%s has no AccountKey: signing needs the account key, not a SAS", envConnectionString)
		}
		where.ConnectionString = cs
	case key == "" && account == "" && endpoint == "":
		return nil, errNoEnvCredential
	case key == "":
		return nil, fmt.Errorf("%s is not set: the account key comes from it (or from %s with AccountKey), never from a flag",
			envKey, envConnectionString)
	case account == "" && endpoint == "":
		return nil, fmt.Errorf("%s is not set: it names the account of %s", envAccount, envKey)
	}
	loc, err := locate(where, settingNames{envAccount, envBlobEndpoint, envConnectionString})
	if err != nil {
		return nil, err
	}
	from := "the default endpoint"
	switch {
	case endpoint != "":
		from = envBlobEndpoint
	case connStr != "":
		from = envConnectionString + "'s blob endpoint"
	}
	if where.ConnectionString != nil {
		return &signingKey{key: where.ConnectionString.Key, endpoint: loc.Endpoint, endpointFrom: from}, nil
	}
	if loc.Account == "" {
		return nil, fmt.Errorf("%s is not set: it names the account of %s", envAccount, envKey)
	}
	shared, err := sas.NewSharedKey(loc.Account, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", envAccount, envKey, err)
	}
	return &signingKey{key: shared, endpoint: loc.Endpoint, endpointFrom: from}, nil
}

// runSign signs the service SAS the flags describe with the key cred gives,
// and writes the URL, or the token with --token-only, to out, and a
// warning about a long-lived token to errOut. Flags are checked before the
// environment is read.
func runSign(fl caddycmd.Flags, cred func() (*signingKey, error), now time.Time, out, errOut io.Writer) error {
	v, err := signValues(fl, now)
	if err != nil {
		return err
	}
	warning, err := checkLifetime(v, now, fl.Bool("force"))
	if err != nil {
		return err
	}
	k, err := cred()
	if err != nil {
		return err
	}
	if err := checkSignEndpoint(k, v, fl); err != nil {
		return err
	}
	q, err := v.Sign(k.key)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	line := q.Encode()
	if !fl.Bool("token-only") {
		line = k.endpoint.URL(v.Container, v.Blob, q)
	}
	if warning != "" {
		fmt.Fprintln(errOut, warning)
	}
	_, err = fmt.Fprintln(out, line)
	return err
}

// Lifetimes past which sign warns, and past which it needs --force. A
// service SAS without a stored access policy cannot be revoked short of
// rotating the account key, which breaks every other token and client of
// the account, so its expiry is the only bound on a leak. Seven days is
// the longest Azure lets even a user-delegation SAS live, and the ceiling
// Microsoft's SAS guidance has in mind for tokens that can change data;
// a read-only leak discloses but destroys nothing, hence 30 days. Past a
// year a token is a standing credential: --force says it is meant.
const (
	warnWriteLifetime = 7 * 24 * time.Hour
	warnReadLifetime  = 30 * 24 * time.Hour
	forceLifetime     = 365 * 24 * time.Hour
)

// checkLifetime refuses a token without a stored access policy that lives
// more than a year, unless force, and returns a warning for one that lives
// longer than its permissions call for. A token that names a policy is
// revoked by changing the policy: no limit applies.
func checkLifetime(v *sas.ServiceValues, now time.Time, force bool) (warning string, err error) {
	if v.Identifier != "" || v.Expiry.IsZero() {
		return "", nil
	}
	const revoke = "a service SAS without a stored access policy is revoked only by rotating the account key"
	lifetime := v.Expiry.Sub(now)
	if lifetime > forceLifetime && !force {
		return "", fmt.Errorf("--expiry is %s away, more than a year: %s; name a policy with --policy, or give --force to sign it anyway",
			humanDuration(lifetime), revoke)
	}
	limit, what := warnReadLifetime, "only reads"
	if !v.Permissions.ReadOnly() {
		limit, what = warnWriteLifetime, "can change data"
	}
	if lifetime <= limit {
		return "", nil
	}
	return fmt.Sprintf("warning: this token %s (sp=%s) and lives %s, more than %d days: %s; prefer a shorter --expiry, or --policy",
		what, v.Permissions, humanDuration(lifetime), limit/(24*time.Hour), revoke), nil
}

// checkSignEndpoint refuses a URL that would carry its token across a
// network in clear text (unless --insecure-http), and an https-only URL
// to an http endpoint, which Azure would refuse every time.
func checkSignEndpoint(k *signingKey, v *sas.ServiceValues, fl caddycmd.Flags) error {
	switch {
	case exposesTokens(k.endpoint, k.key) && !fl.Bool("insecure-http"):
		return fmt.Errorf("%s is plain http to a host other than loopback: the token would cross the network in clear text; "+
			"use https, or give --insecure-http if that network is private and trusted", k.endpointFrom)
	case v.Protocol == sas.ProtocolHTTPS && k.endpoint.Scheme == "http" && !fl.Bool("token-only"):
		return fmt.Errorf("--https-only: %s is http, so the URL could never be used (Azure refuses an https-only token over http); "+
			"leave out --https-only, or use an https endpoint", k.endpointFrom)
	}
	return nil
}

// signValues turns the flags into what sas signs. Errors name the flag.
func signValues(fl caddycmd.Flags, now time.Time) (*sas.ServiceValues, error) {
	v := &sas.ServiceValues{
		Version:    fl.String("version"),
		Container:  fl.String("container"),
		Blob:       fl.String("blob"),
		Identifier: fl.String("policy"),
		IPRange:    fl.String("ip"),
		Resource:   sas.ResourceContainer,
	}
	for _, h := range headerFlags(v) {
		*h.into = fl.String(h.name)
	}
	if v.Container == "" {
		return nil, errors.New("--container is required")
	}
	if sas.CheckContainerName(v.Container) != nil {
		// Not quoted: a value pasted into the wrong flag may be a secret.
		return nil, errors.New("--container is not a container name: 3 to 63 lowercase letters, digits and single hyphens, or $root, $web, $logs")
	}
	if v.Blob != "" {
		if err := checkBlobFlag(v.Blob); err != nil {
			return nil, err
		}
		v.Resource = sas.ResourceBlob
	}
	if fl.Bool("https-only") {
		v.Protocol = sas.ProtocolHTTPS
	}

	const orPolicy = " (unless --policy names a stored access policy that sets it)"
	switch letters := fl.String("permissions"); {
	case letters != "":
		p, err := sas.ParsePermissions(v.Resource, letters)
		if err != nil {
			return nil, fmt.Errorf("--permissions: %w", err)
		}
		v.Permissions = p
	case v.Identifier == "":
		return nil, errors.New("--permissions is required" + orPolicy)
	}
	switch expiry := fl.String("expiry"); {
	case expiry != "":
		t, err := parseWhen("--expiry", expiry, now)
		if err != nil {
			return nil, err
		}
		if !t.After(now) {
			return nil, fmt.Errorf("--expiry %s is not in the future", t.Format(time.RFC3339))
		}
		v.Expiry = t
	case v.Identifier == "":
		return nil, errors.New("--expiry is required" + orPolicy)
	}
	if start := fl.String("start"); start != "" {
		t, err := parseWhen("--start", start, now)
		if err != nil {
			return nil, err
		}
		v.Start = t
	}
	return v, nil
}

// checkBlobFlag refuses a blob name that would not reach the blob it
// names once in a URL.
func checkBlobFlag(name string) error {
	switch {
	case strings.HasPrefix(name, "/"):
		return errors.New("--blob starts with '/': give the name without it")
	case strings.HasSuffix(name, "/"):
		return errors.New("--blob ends with '/', which names a folder, not a blob; leave out --blob for a container token")
	}
	if err := checkURLSafeBlobName(name); err != nil {
		return fmt.Errorf("--blob: %w", err)
	}
	return nil
}

// parseWhen reads a time flag: a duration from now (caddy's syntax, which
// takes 7d) or an RFC3339 time. SAS times have whole seconds.
func parseWhen(flag, value string, now time.Time) (time.Time, error) {
	if d, err := caddy.ParseDuration(value); err == nil {
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t.UTC().Truncate(time.Second), nil
	}
	// The value is not quoted: one pasted into the wrong flag may be a secret.
	return time.Time{}, fmt.Errorf("%s is neither a duration from now (30m, 1h, 7d, -15m) nor an RFC3339 time (2030-01-02T15:04:05Z)", flag)
}

// humanDuration writes d to the second, or from two days on as days,
// hours and minutes.
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d < 2*day {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dd%dh%dm", d/day, d%day/time.Hour, d%time.Hour/time.Minute)
}
