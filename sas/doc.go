// Package sas signs, reads and checks Azure Blob Storage shared access
// signatures (SAS), with the standard library alone: no Caddy, no Azure SDK.
// Any Go program that hands out SAS URLs can use it on its own; the
// caddy-azure-sas plugin signs with it.
//
// # Using it
//
// One token, signed now, and the blob's URL with it:
//
//	key, err := sas.NewSharedKey("mystorage", os.Getenv("AZURE_STORAGE_KEY"))
//	if err != nil {
//		return err // says what is wrong with the key, never quotes it
//	}
//	v := sas.ServiceValues{
//		Permissions: sas.PermRead,
//		Expiry:      time.Now().Add(time.Hour),
//		Container:   "photos",
//		Blob:        "2024/holiday/IMG 0001.jpg", // the decoded name
//	}
//	token, err := v.Sign(key) // a sas.Token: it prints REDACTED, Encode returns it
//	url := sas.DefaultBlobEndpoint("mystorage").URL(v.Container, v.Blob, token)
//	// https://mystorage.blob.core.windows.net/photos/2024/holiday/IMG%200001.jpg?sv=…&sig=…
//
// Many tokens, cached: one per blob, signed again once a quarter of the
// lifetime is left, at most 8 MiB of them held ([SignerOptions].MaxBytes),
// one signing per blob however many requests arrive at once:
//
//	signer, err := sas.NewSigner(key, sas.ServiceValues{Permissions: sas.PermRead, Container: "photos"},
//		sas.SignerOptions{TTL: time.Hour})
//	token, err = signer.Token("photos", "2024/holiday/IMG 0001.jpg")
//
// The runnable examples (go test -run Example ./sas) sign a blob URL, use a
// [Signer], parse and check a pasted token, read a connection string,
// reconcile account settings, split a blob URL and sign a user-delegation
// SAS; their output, signatures included, is checked like any test.
//
// # Signing
//
// It signs the three kinds of SAS Azure defines:
//
//   - a service SAS for a container or a blob, with an account key:
//     [ServiceValues.Sign] with a [SharedKey]. Resources: blob (sr=b),
//     container (c), snapshot (bs), version (bv), directory (d); fields sp,
//     st, se, si, sip, spr, sv, sr, ses and the response header overrides
//     rscc, rscd, rsce, rscl, rsct;
//   - a user-delegation SAS, with a key that an identity signed in with
//     Microsoft Entra ID asked Azure for (no account key is held):
//     [ServiceValues.SignWithUserDelegation] with a [DelegationKey], made
//     from Azure's answer to [UserDelegationKeyRequest] by
//     [ParseUserDelegationKey];
//   - an account SAS for services of the account: [AccountValues.Sign],
//     with ss, srt, sp, st, se, sip, spr, sv and ses.
//
// A token may name a stored access policy ([ServiceValues].Identifier, si)
// and leave any of sp, st and se to the policy.
//
// Permissions are parsed in any order and printed in Azure's canonical
// order (blob racwdxyltmeopi, container racwdxltfmeopi, account
// rwdxylacupfti); an unknown or repeated letter is an error that names the
// letter.
//
// Signing allocates the returned [Token] and nothing else.
//
// # Service versions
//
// Each token is signed in the string-to-sign layout of the service version
// it names, from [VersionLegacy] (2009-09-19, the form without sv) to
// [VersionLatest]; an unknown sv is an error, never a guessed signature.
// [DefaultVersion] is the newest that both Azure and the Azurite emulator
// accept as x-ms-version. The Azure SDK for Go signs its newest layout
// only. The service SAS layouts, each proven by at least one published
// known answer:
//
//	sv                      fields
//	none (pre-2012)         sp, st, se, cr, si
//	2012-02-12              + sv
//	2013-08-15 … 2015-02-21 + rscc, rscd, rsce, rscl, rsct
//	2015-04-05 … 2018-03-28 + sip, spr (before sv)
//	2018-11-09 … 2020-10-02 + sr, snapshot time (after sv)
//	2020-12-06 and later    + ses (after the snapshot time)
//
// The canonicalized resource is /blob/account/container/blob from
// 2015-02-21, /account/container/blob before; the blob name in it is the
// decoded name.
//
// # Caching
//
// A [Signer] makes read tokens (or any fixed permissions) for the blobs of a
// container, so that a server can sign for every request it forwards. Its
// cache is keyed by everything signed. A token is signed again when less
// than [SignerOptions].RenewBefore is left (a quarter of the TTL by
// default) and never handed out at or past its expiry; a failed renewal
// keeps serving the still valid token. The cache is bounded in bytes
// ([SignerOptions].MaxBytes, [DefaultMaxBytes] by default, counting each
// entry's key, token and [EntryOverhead]) and in entries
// ([DefaultMaxEntries]), evicts the least recently used, signs once per key
// however many callers ask at once, and takes its clock from
// [SignerOptions].Now in tests. A signing that fails evicts nothing.
//
// # Where an account is
//
// [BlobEndpoint] is a blob service address: [DefaultBlobEndpoint] for an
// account in Azure's public cloud, [ParseBlobEndpoint] for one a user gave
// (a path-style one such as Azurite's works); [BlobEndpoint.URL] writes a
// blob's URL with a token, its segments escaped. [Locate] reconciles an
// account name, an endpoint and a connection string
// ([ParseConnectionString]) into one [Location], and refuses settings that
// name two accounts. [ParseBlobURL] splits a pasted blob URL into its
// endpoint, account, container, blob and token.
//
// Connection strings may hold AccountName, AccountKey, BlobEndpoint,
// EndpointSuffix, DefaultEndpointsProtocol, SharedAccessSignature and
// UseDevelopmentStorage=true (Azurite's account, key and endpoint:
// [DevAccountName], [DevAccountKey], [DevBlobEndpoint]).
//
// # Reading a token
//
// [Parse] reads a token as users paste it (with or without '?') into a
// [ParsedToken]: its kind, what it grants, on what and until when.
// [ParsedToken.ReadOnly] says whether it grants more than read and list,
// [ParsedToken.Remaining] how long it has left. [ParsedToken.VerifyService]
// and [ParsedToken.VerifyAccount] check its signature against a key.
//
// # Secrets
//
// A [SharedKey], a [DelegationKey], a [Token] and a [ParsedToken] print as
// REDACTED (or with sig=REDACTED) through every fmt verb (%v %+v %#v %s %q
// %x %d), encoding/json, log/slog and zap, also as fields of other structs.
// Only [Token.Encode] returns the token, and [BlobEndpoint.URL], which
// writes it into a URL: call them where the token goes to Azure or to the
// client it is meant for. [RedactQuery] takes the signature out of a query
// string before it goes near a log.
//
// Errors never quote a key, a signature or the string-to-sign, even for
// malformed input (the fuzz tests check this), nor a value that failed its
// check: a value put in the wrong field may be a key.
//
// The string-to-sign joins its fields with '\n', so blob names and every
// field signed as text (si, ses, rscc … rsct, saoid, suoid, scid, sduoid,
// a key's skoid …) are refused when they hold a C0 or C1 control
// character or DEL: otherwise two different tokens could share one
// signature.
//
// # Speed and testing
//
// On the project's 2-core CI machine, signing a blob read takes about
// 0.4 µs and one allocation, about 4.9 times less time than the Azure SDK
// for Go, and a cached token about 0.09 µs and none. The figures, and the
// commands that measure them, are in docs/performance.md of the
// repository. The layouts are checked against published known answers and
// against the Azure SDK for Go, and tokens against the Azurite emulator:
// docs/testing.md says how.
package sas
