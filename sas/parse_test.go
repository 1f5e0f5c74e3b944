package sas

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real-looking signature: 32 bytes of base64 with '+', '/' and '='.
const testSig = "koLniLcK0tMLuMfYeuSQwB+BLnWibhPqnrINxaIRbvU="
const testSigEscaped = "koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"

// assertNoSig asserts that text quotes the test signature in no form.
func assertNoSig(t *testing.T, text string, msgAndArgs ...any) {
	t.Helper()
	for _, secret := range []string{testSig, testSigEscaped, "koLniLcK0tMLuMfYeuSQwB"} {
		assert.NotContains(t, text, secret, msgAndArgs...)
	}
}

func TestParseReportsWhatATokenGrants(t *testing.T) {
	tests := []struct {
		name, token  string
		kind         Kind
		resource     Resource
		perms        string
		readOnly     bool
		start, until string
	}{
		{"blob read, leading ?", "?sv=2025-11-05&sp=r&se=2030-01-02T03:04:05Z&sr=b&sig=" + testSigEscaped,
			KindService, ResourceBlob, "r", true, "", "2030-01-02T03:04:05Z"},
		{"container read list", "sv=2025-11-05&ss=&sp=rl&st=2029-01-01&se=2030-01-02T03:04Z&sr=c&sig=" + testSigEscaped,
			KindService, ResourceContainer, "rl", true, "2029-01-01T00:00:00Z", "2030-01-02T03:04:00Z"},
		{"read write, any order", "sv=2019-02-02&sr=b&sp=wr&se=2030-01-01T00:00:00.1234567Z&sig=" + testSigEscaped,
			KindService, ResourceBlob, "rw", false, "", "2030-01-01T00:00:00.1234567Z"},
		{"stored policy only", "sv=2025-11-05&si=readers&sr=c&sig=" + testSigEscaped,
			KindService, ResourceContainer, "", false, "", ""},
		{"legacy, no sv", "sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped,
			KindService, ResourceBlob, "r", true, "", "2030-01-01T00:00:00Z"},
		{"account read list", "sv=2025-11-05&ss=bf&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=" + testSigEscaped,
			KindAccount, "", "rl", true, "", "2030-01-01T00:00:00Z"},
		{"account write", "sv=2025-11-05&ss=b&srt=o&sp=rwdlacup&se=2030-01-01T00:00:00Z&sig=" + testSigEscaped,
			KindAccount, "", "rwdlacup", false, "", "2030-01-01T00:00:00Z"},
		{"user delegation", "sv=2025-11-05&sr=b&sp=r&se=2030-01-01T00:00:00Z&skoid=a&sktid=b&skt=2029-01-01T00:00:00Z&ske=2030-01-02T00:00:00Z&sks=b&skv=2025-11-05&sig=" + testSigEscaped,
			KindUserDelegation, ResourceBlob, "r", true, "", "2030-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.token = strings.Replace(tt.token, "ss=&", "", 1)
			tok, err := Parse(tt.token)
			require.NoError(t, err)
			assert.Equal(t, tt.kind, tok.Kind, "kind")
			assert.Equal(t, tt.resource, tok.Resource, "resource")
			assert.Equal(t, tt.readOnly, tok.ReadOnly(), "read-only")
			perms := tok.Permissions.String()
			if tok.Kind == KindAccount {
				perms = tok.AccountPerms.String()
			}
			assert.Equal(t, tt.perms, perms, "permissions (canonical order)")
			checkTime(t, "start", tok.Start, tt.start)
			checkTime(t, "expiry", tok.Expiry, tt.until)
			assert.Equal(t, strings.TrimPrefix(tt.token, "?"), tok.Token().Encode(), "Token() is not the token as given")
			assertNoSig(t, tok.String(), "String() shows the signature")
		})
	}
}

func checkTime(t *testing.T, what string, got time.Time, want string) {
	t.Helper()
	if want == "" {
		assert.Zero(t, got, "%s: want none", what)
		return
	}
	w, err := time.Parse(time.RFC3339Nano, want)
	require.NoError(t, err)
	assert.Equal(t, w, got, what)
}

func TestTokenRemaining(t *testing.T) {
	tok, err := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01T00:00:00Z&sig=" + testSigEscaped)
	require.NoError(t, err)
	now := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	assert.Equal(t, time.Hour, tok.Remaining(now))
	assert.Equal(t, -time.Hour, tok.Remaining(now.Add(2*time.Hour)), "after expiry")

	policy, err := Parse("sv=2025-11-05&si=readers&sr=c&sig=" + testSigEscaped)
	require.NoError(t, err)
	assert.Zero(t, policy.Remaining(now), "a stored policy holds the expiry")
}

func TestParseErrorsSayWhatIsWrongWithoutTheSignature(t *testing.T) {
	sig := "&sig=" + testSigEscaped
	tests := []struct{ token, want string }{
		{"", "SAS token is empty"},
		{"?", "SAS token is empty"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01", "no signature (sig)"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSig, "not a base64 HMAC-SHA256"}, // raw '+' decodes to a space
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=c2hvcnQ%3D", "not a base64 HMAC-SHA256"},
		{"sv=2099-01-01&sr=b&sp=r&se=2030-01-01" + sig, "signed version is not a known"},
		{"sv=2009-09-19&sr=b&sp=r&se=2030-01-01" + sig, "written as no sv"},
		{"sv=2025-11-05&sp=r&se=2030-01-01" + sig, "no signed resource (sr)"},
		{"sv=2025-11-05&sr=q&sp=r&se=2030-01-01" + sig, "signed resource (sr) is not one of b, c, bs, bv, d"},
		{"sv=2025-11-05&sr=b&sp=rr&se=2030-01-01" + sig, `'r' is given twice`},
		{"sv=2025-11-05&sr=b&sp=rz&se=2030-01-01" + sig, `'z' is not valid in blob SAS permissions`},
		{"sv=2025-11-05&sr=b&sp=f&se=2030-01-01" + sig, `'f' is not valid in blob SAS permissions`},
		{"sv=2025-11-05&sr=b&se=2030-01-01" + sig, "no permissions (sp)"},
		{"sv=2025-11-05&sr=b&sp=r" + sig, "no expiry (se)"},
		{"sv=2025-11-05&sr=b&sp=r&se=tomorrow" + sig, "expiry (se) is not a time Azure accepts"},
		{"sv=2025-11-05&sr=b&sp=r&st=2031-01-01&se=2030-01-01" + sig, "expiry (se) is not after its start"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&spr=http" + sig, "signed protocol (spr) is not https or https,http"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sip=1.2.3.4-1.2.3.1" + sig, "ends before it starts"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&comp=list" + sig, `parameter "comp", which is not part of a SAS`},
		{"https://a.blob.core.windows.net/c/b?sv=2025-11-05&sr=b&sp=r&se=2030-01-01" + sig, "SAS token has a parameter which is not part of a SAS (is this a whole URL rather than its token?)"},
		// A part without '=' may be a secret pasted alone: never quoted.
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01" + sig + "&Pasted0Secret0Key", "SAS token has a parameter which is not part of a SAS"},
		{"Pasted0Secret0Key", "SAS token has a parameter which is not part of a SAS"},
		{"sv=2025-11-05&sv=2025-11-05&sr=b&sp=r&se=2030-01-01" + sig, "sv appears twice"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped + "&sig=" + testSigEscaped, "sig appears twice"},
		{"sv=2025-11-05&sr=b&sp=r&se" + sig, "se has no value"},
		{"sv=2025-11-05&sr=b&sp=r&se=%zz" + sig, "se is not percent-encoded properly"},
		{"sv=2025-11-05&ss=b&srt=o&sp=r&se=2030-01-01&sr=b" + sig, "SAS token is an account SAS (it has ss and srt) but also sr, which only a service SAS has"},
		{"sv=2015-02-21&ss=b&srt=o&sp=r&se=2030-01-01" + sig, "needs version 2015-04-05"},
		{"sv=2025-11-05&ss=b&sp=r&se=2030-01-01" + sig, "account SAS resource types (srt) is empty"},
		{"sv=2025-11-05&ss=b&srt=o&sp=r" + sig, "account SAS without an expiry"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&si=x&skoid=y" + sig, "cannot name a stored access policy"},
		{strings.Repeat("a", maxTokenLength+1), "bytes; a real one is under"},
	}
	for _, tt := range tests {
		tok, err := Parse(tt.token)
		if !assert.ErrorContains(t, err, tt.want, "Parse(%.60q)", tt.token) {
			continue
		}
		assert.Nil(t, tok, "Parse(%.60q) returned a token with its error", tt.token)
		assertNoSig(t, err.Error(), "Parse(%.60q) error quotes the signature", tt.token)
	}
}

// TestParseRefusesRawCharactersThatBreakAURL: a raw '#' would cut the token
// off at the fragment, a space or newline would break the request line; the
// same values percent-encoded are accepted.
func TestParseRefusesRawCharactersThatBreakAURL(t *testing.T) {
	base := "sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped
	for _, tc := range []struct{ bad, want string }{
		{"rscd=a#b&", "SAS token has a character that must be percent-encoded at byte 6"},
		{"rscd=a b&", "SAS token has a character that must be percent-encoded at byte 6"},
		{"rscd=é&", "SAS token has a character that must be percent-encoded at byte 5"},
		{"rscd=a\"b&", "SAS token has a character that must be percent-encoded at byte 6"},
		{"rscd=a\nb&", "SAS token has a character that must be percent-encoded at byte 6"},
	} {
		tok, err := Parse(tc.bad + base)
		if assert.EqualError(t, err, tc.want, "Parse(%q…)", tc.bad) {
			assertNoSig(t, err.Error(), "Parse(%q…) error quotes the signature", tc.bad)
		}
		assert.Nil(t, tok, "Parse(%q…)", tc.bad)
	}
	tok, err := Parse("rscd=a%23b%20c&" + base)
	require.NoError(t, err, "the same values, escaped")
	assert.Equal(t, "a#b c", tok.ContentDisposition)
}

func TestParseDirectoryDepthAndFractions(t *testing.T) {
	sig := "&sig=" + testSigEscaped
	for _, tc := range []struct{ token, want string }{
		{"sv=2025-11-05&sr=d&sp=r&se=2030-01-01" + sig, "SAS token is a directory SAS (sr=d) without its depth (sdd)"},
		{"sv=2025-11-05&sr=b&sdd=1&sp=r&se=2030-01-01" + sig, "SAS token has a directory depth (sdd) but is not a directory SAS (sr=d)"},
		{"sv=2025-11-05&sr=d&sdd=x&sp=r&se=2030-01-01" + sig, "SAS token directory depth (sdd) is not a small whole number"},
		{"sv=2025-11-05&sr=d&sdd=1234&sp=r&se=2030-01-01" + sig, "SAS token directory depth (sdd) is not a small whole number"},
		// Eight fractional digits: Azure takes seven at most.
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01T00:00:00.12345678Z" + sig, "SAS token expiry (se) is not a time Azure accepts"},
	} {
		tok, err := Parse(tc.token)
		if assert.EqualError(t, err, tc.want, "Parse(%.50q…)", tc.token) {
			assertNoSig(t, err.Error(), "Parse(%.50q…) error quotes the signature", tc.token)
		}
		assert.Nil(t, tok, "Parse(%.50q…)", tc.token)
	}

	tok, err := Parse("sv=2025-11-05&sr=d&sdd=2&sp=r&se=2030-01-01T00:00:00.1234567Z" + sig)
	require.NoError(t, err, "a directory SAS with its depth and a seven-digit fraction")
	assert.Equal(t, ResourceDirectory, tok.Resource)
	assert.Equal(t, "2", tok.DirectoryDepth)
	assert.Equal(t, time.Date(2030, 1, 1, 0, 0, 0, 123456700, time.UTC), tok.Expiry)
}

func TestVerifyKindMismatch(t *testing.T) {
	acct, err := Parse("sv=2025-11-05&ss=b&srt=o&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	require.NoError(t, err)
	assert.ErrorContains(t, acct.VerifyService(devKey(t), "c", "b", ""), "VerifyService needs a service SAS")

	svc, err := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	require.NoError(t, err)
	assert.ErrorContains(t, svc.VerifyAccount(devKey(t)), "VerifyAccount needs an account SAS, not a service SAS")

	err = svc.VerifyService(devKey(t), "c", "b", "")
	if assert.ErrorContains(t, err, "SAS signature does not match", "a wrong signature") {
		assertNoSig(t, err.Error(), "a wrong signature's error quotes it")
	}
}

func TestVerifyWithNilKey(t *testing.T) {
	svc, err := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	require.NoError(t, err)
	assert.EqualError(t, svc.VerifyService(nil, "c", "b", ""), "no shared key to verify with")

	acct, err := Parse("sv=2025-11-05&ss=b&srt=o&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	require.NoError(t, err)
	assert.EqualError(t, acct.VerifyAccount(nil), "no shared key to verify with")
}
