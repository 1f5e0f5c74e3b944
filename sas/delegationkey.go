package sas

import (
	"encoding/xml"
	"errors"
	"fmt"
	"time"
)

// UserDelegationKeyRequest is the body of a Get User Delegation Key request
// (POST <endpoint>/?restype=service&comp=userdelegationkey with an Entra ID
// bearer token) for a key valid from start to expiry; Azure allows at most
// 7 days. delegatedTenant, when not empty, asks for a key for users of
// that tenant (2025-07-05 and later).
func UserDelegationKeyRequest(start, expiry time.Time, delegatedTenant string) []byte {
	body := struct {
		XMLName xml.Name `xml:"KeyInfo"`
		Start   string   `xml:"Start"`
		Expiry  string   `xml:"Expiry"`
		Tenant  string   `xml:"DelegatedUserTid,omitempty"`
	}{Start: string(appendTime(nil, start.UTC())), Expiry: string(appendTime(nil, expiry.UTC())), Tenant: delegatedTenant}
	out, _ := xml.Marshal(body) // strings only: cannot fail
	return append([]byte(xml.Header), out...)
}

// UserDelegationKeyURL is where an identity asks for a user delegation key
// (Get User Delegation Key): the endpoint with
// ?restype=service&comp=userdelegationkey.
func (e BlobEndpoint) UserDelegationKeyURL() string {
	return e.String() + "/?restype=service&comp=userdelegationkey"
}

// ParseUserDelegationKey reads Azure's answer to Get User Delegation Key.
// Its errors never quote the key.
func ParseUserDelegationKey(body []byte) (DelegationKeyInfo, error) {
	var doc struct {
		OID     string `xml:"SignedOid"`
		TID     string `xml:"SignedTid"`
		Start   string `xml:"SignedStart"`
		Expiry  string `xml:"SignedExpiry"`
		Service string `xml:"SignedService"`
		Version string `xml:"SignedVersion"`
		Tenant  string `xml:"SignedDelegatedUserTid"`
		Value   string `xml:"Value"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return DelegationKeyInfo{}, errors.New("user delegation key: the answer is not the XML Azure sends")
	}
	k := DelegationKeyInfo{SignedOID: doc.OID, SignedTID: doc.TID, SignedService: doc.Service,
		SignedVersion: doc.Version, SignedDelegatedUserTenantID: doc.Tenant, Value: doc.Value}
	for _, f := range []struct {
		name  string
		value string
		into  *time.Time
	}{{"SignedStart", doc.Start, &k.SignedStart}, {"SignedExpiry", doc.Expiry, &k.SignedExpiry}} {
		t, err := time.Parse(time.RFC3339Nano, f.value)
		if err != nil {
			return DelegationKeyInfo{}, fmt.Errorf("user delegation key: %s is not a time", f.name)
		}
		*f.into = t.UTC()
	}
	if k.Value == "" || k.SignedOID == "" || k.SignedTID == "" {
		return DelegationKeyInfo{}, errors.New("user delegation key: the answer lacks the key, the object ID or the tenant ID")
	}
	return k, nil
}
