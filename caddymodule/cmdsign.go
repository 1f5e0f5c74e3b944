package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

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
	case k.endpoint.Insecure() && !k.key.IsDevelopmentKey() && !fl.Bool("insecure-http"):
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
		Version:            fl.String("version"),
		Container:          fl.String("container"),
		Blob:               fl.String("blob"),
		Identifier:         fl.String("policy"),
		IPRange:            fl.String("ip"),
		CacheControl:       fl.String("cache-control"),
		ContentType:        fl.String("content-type"),
		ContentDisposition: fl.String("content-disposition"),
		ContentEncoding:    fl.String("content-encoding"),
		ContentLanguage:    fl.String("content-language"),
		Resource:           sas.ResourceContainer,
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
