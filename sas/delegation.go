package sas

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DelegationKeyInfo is what Azure's Get User Delegation Key returns to an
// identity signed in with Microsoft Entra ID: a key it may sign
// user-delegation SAS tokens with until SignedExpiry (at most 7 days).
type DelegationKeyInfo struct {
	SignedOID     string    // skoid: object ID of the identity that asked
	SignedTID     string    // sktid: its tenant
	SignedStart   time.Time // skt
	SignedExpiry  time.Time // ske
	SignedService string    // sks: "b" for Blob Storage
	SignedVersion string    // skv: the service version that issued the key

	// SignedDelegatedUserTenantID is skdutid (2025-07-05 and later), set
	// when the key was asked for a user of another tenant.
	SignedDelegatedUserTenantID string

	// Value is the key, base64, as Azure returns it. It is a secret.
	Value string
}

// DelegationKey signs user-delegation SAS tokens for one account with a
// user delegation key. Create it with NewDelegationKey; it is safe for
// concurrent use, and prints without its key.
type DelegationKey struct {
	key   *SharedKey // the same HMAC-SHA256, keyed with the decoded Value
	info  DelegationKeyInfo
	start []byte // skt and ske as signed and sent
	end   []byte
}

// NewDelegationKey checks k and makes a signer of user-delegation SAS
// tokens for account. Errors never quote the key.
func NewDelegationKey(account string, k DelegationKeyInfo) (*DelegationKey, error) {
	if err := CheckAccountName(account); err != nil {
		return nil, err
	}
	switch {
	case k.SignedOID == "" || k.SignedTID == "":
		return nil, errors.New("user delegation key: the signed object ID and tenant ID are required")
	case k.SignedStart.IsZero() || k.SignedExpiry.IsZero() || !k.SignedExpiry.After(k.SignedStart):
		return nil, errors.New("user delegation key: its start must come before its expiry")
	case k.SignedService == "":
		return nil, errors.New("user delegation key: the signed service is required")
	case hasControl(k.SignedOID + k.SignedTID + k.SignedService + k.SignedDelegatedUserTenantID):
		// Signed as text: a '\n' would shift the fields after it.
		return nil, errors.New("user delegation key: a signed field has a control character")
	}
	if _, err := lookupVersion(k.SignedVersion); err != nil {
		return nil, fmt.Errorf("user delegation key: %w", err)
	}
	raw, err := decodeAccountKey(k.Value)
	if err != nil {
		return nil, errors.New("user delegation key: the value is not valid base64")
	}
	info := k
	info.Value = ""
	return &DelegationKey{
		key: newSharedKey(account, raw), info: info,
		start: appendTime(nil, k.SignedStart.UTC()), end: appendTime(nil, k.SignedExpiry.UTC()),
	}, nil
}

// Account is the storage account the key signs for.
func (d *DelegationKey) Account() string { return d.key.account }

// Expiry is when the key, and every token it signed, stops working.
func (d *DelegationKey) Expiry() time.Time { return d.info.SignedExpiry }

// Info is the key's description, without its value.
func (d *DelegationKey) Info() DelegationKeyInfo { return d.info }

// String prints the key's account, identity and validity, never its value.
func (d *DelegationKey) String() string {
	return fmt.Sprintf("DelegationKey(account=%s, oid=%s, tid=%s, expiry=%s, key=REDACTED)",
		d.key.account, d.info.SignedOID, d.info.SignedTID, d.info.SignedExpiry.UTC().Format(time.RFC3339))
}

// GoString is String, for %#v.
func (d *DelegationKey) GoString() string { return d.String() }

// LogValue keeps the key out of slog output.
func (d *DelegationKey) LogValue() slog.Value { return slog.StringValue(d.String()) }

// SignWithUserDelegation signs v as a user-delegation SAS (version
// 2018-11-09 or later). A user-delegation SAS names no stored policy, needs
// permissions and an expiry, and may not outlive the key.
func (v *ServiceValues) SignWithUserDelegation(d *DelegationKey) (Token, error) {
	if d == nil {
		return Token{}, errors.New("no user delegation key to sign with")
	}
	t, err := v.check()
	if err != nil {
		return Token{}, err
	}
	if err := t.checkDelegation(d, v.Expiry); err != nil {
		return Token{}, err
	}
	return t.sign(nil, d, v.Container, v.Blob, v.Start, v.Expiry), nil
}

// checkDelegation refuses what a user-delegation SAS cannot carry, or
// cannot carry with key d.
func (t *template) checkDelegation(d *DelegationKey, expiry time.Time) error {
	if err := t.checkDelegationValues(); err != nil {
		return err
	}
	switch {
	case expiry.IsZero():
		return errors.New("a user-delegation SAS needs an expiry (se)")
	case expiry.After(d.info.SignedExpiry):
		return errors.New("a user-delegation SAS cannot expire after its key (ske)")
	case d.info.SignedDelegatedUserTenantID != "" && t.info.version < "2025-07-05":
		return errors.New("a key for a delegated tenant (skdutid) needs version 2025-07-05 or later")
	}
	return nil
}

// checkDelegationValues is checkDelegation for what does not depend on
// the key or the times.
func (t *template) checkDelegationValues() error {
	v := t.v
	switch {
	case t.info.layout < layout2018:
		return fmt.Errorf("a user-delegation SAS needs version 2018-11-09 or later, not %s", t.info.version)
	case v.Identifier != "":
		return errors.New("a user-delegation SAS cannot name a stored access policy (si)")
	case t.permissions == 0:
		return errors.New("a user-delegation SAS needs permissions (sp)")
	case (v.AuthorizedObjectID != "" || v.UnauthorizedObjectID != "" || v.CorrelationID != "") && t.info.version < "2020-02-10":
		return errors.New("saoid, suoid and scid need version 2020-02-10 or later")
	case v.AuthorizedObjectID != "" && v.UnauthorizedObjectID != "":
		return errors.New("a user-delegation SAS names saoid or suoid, not both")
	case v.DelegatedUserObjectID != "" && t.info.version < "2025-07-05":
		return errors.New("sduoid needs version 2025-07-05 or later")
	}
	return nil
}
