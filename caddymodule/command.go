package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
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
	f.String("cache-control", "", "Cache-Control Azure answers with (rscc)")
	f.String("content-type", "", "Content-Type Azure answers with (rsct)")
	f.String("content-disposition", "", "Content-Disposition Azure answers with (rscd)")
	f.String("content-encoding", "", "Content-Encoding Azure answers with (rsce)")
	f.String("content-language", "", "Content-Language Azure answers with (rscl)")
	f.Bool("token-only", false, "Print only the token, without the URL")
	f.Bool("insecure-http", false, "Sign for a plain http endpoint other than loopback or Azurite, on a private network you trust")
	f.Bool("force", false, "Sign a token that lives more than a year without a stored access policy")
	cmd.SetFlagErrorFunc(flagError)
	cmd.RunE = runWith(func(fl caddycmd.Flags, _ []string, out, errOut io.Writer) error {
		return runSign(fl, envCredential, time.Now(), out, errOut)
	})
	return cmd
}

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

func isPlainName(s string) bool {
	if len(s) > 32 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}
