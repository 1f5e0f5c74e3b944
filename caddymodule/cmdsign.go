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
// and writes the URL, or the token with --token-only, to out. Flags are
// checked before the environment is read.
func runSign(fl caddycmd.Flags, cred func() (*signingKey, error), now time.Time, out io.Writer) error {
	v, err := signValues(fl, now)
	if err != nil {
		return err
	}
	k, err := cred()
	if err != nil {
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
	_, err = fmt.Fprintln(out, line)
	return err
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
