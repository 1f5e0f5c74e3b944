package sas

import (
	"strings"
	"testing"
	"time"
)

// A real-looking signature: 32 bytes of base64 with '+', '/' and '='.
const testSig = "koLniLcK0tMLuMfYeuSQwB+BLnWibhPqnrINxaIRbvU="
const testSigEscaped = "koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"

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
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != tt.kind || tok.Resource != tt.resource || tok.ReadOnly() != tt.readOnly {
				t.Errorf("kind %s resource %q read-only %v; want %s %q %v", tok.Kind, tok.Resource, tok.ReadOnly(), tt.kind, tt.resource, tt.readOnly)
			}
			perms := tok.Permissions.String()
			if tok.Kind == KindAccount {
				perms = tok.AccountPerms.String()
			}
			if perms != tt.perms {
				t.Errorf("permissions %q, want %q (canonical order)", perms, tt.perms)
			}
			checkTime(t, "start", tok.Start, tt.start)
			checkTime(t, "expiry", tok.Expiry, tt.until)
			if got := tok.Query().Encode(); got != strings.TrimPrefix(tt.token, "?") {
				t.Errorf("Query() = %q, want the token as given", got)
			}
			if strings.Contains(tok.String(), testSig) || strings.Contains(tok.String(), testSigEscaped) {
				t.Errorf("String() shows the signature: %s", tok)
			}
		})
	}
}

func checkTime(t *testing.T, what string, got time.Time, want string) {
	t.Helper()
	if want == "" {
		if !got.IsZero() {
			t.Errorf("%s %v, want none", what, got)
		}
		return
	}
	w, err := time.Parse(time.RFC3339Nano, want)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(w) {
		t.Errorf("%s %v, want %v", what, got, w)
	}
}

func TestTokenRemaining(t *testing.T) {
	tok, err := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01T00:00:00Z&sig=" + testSigEscaped)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	if got := tok.Remaining(now); got != time.Hour {
		t.Errorf("Remaining %v, want 1h", got)
	}
	if got := tok.Remaining(now.Add(2 * time.Hour)); got >= 0 {
		t.Errorf("Remaining after expiry %v, want negative", got)
	}
}

func TestParseErrorsSayWhatIsWrongWithoutTheSignature(t *testing.T) {
	sig := "&sig=" + testSigEscaped
	tests := []struct{ token, want string }{
		{"", "SAS token is empty"},
		{"?", "SAS token is empty"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01", "no signature (sig)"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSig, "not a base64 HMAC-SHA256"}, // raw '+' decodes to a space
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=c2hvcnQ%3D", "not a base64 HMAC-SHA256"},
		{"sv=2099-01-01&sr=b&sp=r&se=2030-01-01" + sig, `signed version "2099-01-01" is not a known`},
		{"sv=2009-09-19&sr=b&sp=r&se=2030-01-01" + sig, "written as no sv"},
		{"sv=2025-11-05&sp=r&se=2030-01-01" + sig, "no signed resource (sr)"},
		{"sv=2025-11-05&sr=q&sp=r&se=2030-01-01" + sig, `signed resource (sr) "q"`},
		{"sv=2025-11-05&sr=b&sp=rr&se=2030-01-01" + sig, `'r' is given twice`},
		{"sv=2025-11-05&sr=b&sp=rz&se=2030-01-01" + sig, `'z' is not valid in blob SAS permissions`},
		{"sv=2025-11-05&sr=b&sp=f&se=2030-01-01" + sig, `'f' is not valid in blob SAS permissions`},
		{"sv=2025-11-05&sr=b&se=2030-01-01" + sig, "no permissions (sp)"},
		{"sv=2025-11-05&sr=b&sp=r" + sig, "no expiry (se)"},
		{"sv=2025-11-05&sr=b&sp=r&se=tomorrow" + sig, `expiry (se) "tomorrow" is not a time Azure accepts`},
		{"sv=2025-11-05&sr=b&sp=r&st=2031-01-01&se=2030-01-01" + sig, "expiry (se) is not after its start"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&spr=http" + sig, `protocol (spr) "http"`},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sip=1.2.3.4-1.2.3.1" + sig, "ends before it starts"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&comp=list" + sig, `parameter "comp", which is not part of a SAS`},
		{"https://a.blob.core.windows.net/c/b?sv=2025-11-05&sr=b&sp=r&se=2030-01-01" + sig, "not part of a SAS"},
		{"sv=2025-11-05&sv=2025-11-05&sr=b&sp=r&se=2030-01-01" + sig, "sv appears twice"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped + "&sig=" + testSigEscaped, "sig appears twice"},
		{"sv=2025-11-05&sr=b&sp=r&se" + sig, "se has no value"},
		{"sv=2025-11-05&sr=b&sp=r&se=%zz" + sig, "se is not percent-encoded properly"},
		{"sv=2025-11-05&ss=b&srt=o&sp=r&se=2030-01-01&sr=b" + sig, "also sr"},
		{"sv=2015-02-21&ss=b&srt=o&sp=r&se=2030-01-01" + sig, "needs version 2015-04-05"},
		{"sv=2025-11-05&ss=b&sp=r&se=2030-01-01" + sig, "account SAS resource types (srt) is empty"},
		{"sv=2025-11-05&ss=b&srt=o&sp=r" + sig, "account SAS without an expiry"},
		{"sv=2025-11-05&sr=b&sp=r&se=2030-01-01&si=x&skoid=y" + sig, "cannot name a stored access policy"},
		{strings.Repeat("a", MaxTokenLength+1), "bytes; a real one is under"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.token)
		if err == nil {
			t.Errorf("Parse(%.60q) accepted it; want %q", tt.token, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("Parse(%.60q) = %q, want %q", tt.token, msg, tt.want)
		}
		for _, secret := range []string{testSig, testSigEscaped, "koLniLcK0tMLuMfYeuSQwB"} {
			if strings.Contains(msg, secret) {
				t.Errorf("Parse(%.60q) error quotes the signature: %q", tt.token, msg)
			}
		}
	}
}

func TestVerifyKindMismatch(t *testing.T) {
	acct, err := Parse("sv=2025-11-05&ss=b&srt=o&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.VerifyService(devKey(t), "c", "b", ""); err == nil {
		t.Error("VerifyService accepted an account SAS")
	}
	svc, _ := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	if err := svc.VerifyAccount(devKey(t)); err == nil {
		t.Error("VerifyAccount accepted a service SAS")
	}
	if err := svc.VerifyService(devKey(t), "c", "b", ""); err == nil || strings.Contains(err.Error(), testSig) {
		t.Errorf("a wrong signature: %v", err)
	}
}
