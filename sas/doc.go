// Package sas signs, reads and checks Azure Blob Storage shared access
// signatures (SAS), with the standard library alone.
//
// # Signing
//
// It signs the three kinds of SAS Azure defines:
//
//   - a service SAS for a container or a blob, with an account key:
//     [ServiceValues.Sign] with a [SharedKey];
//   - a user-delegation SAS, with a key that an identity signed in with
//     Microsoft Entra ID asked Azure for (no account key is held):
//     [ServiceValues.SignWithUserDelegation] with a [DelegationKey], made
//     from Azure's answer to [UserDelegationKeyRequest] by
//     [ParseUserDelegationKey];
//   - an account SAS for services of the account: [AccountValues.Sign].
//
// Each is signed in the layout of the service version it names, from
// [VersionLegacy] (2009-09-19) to [VersionLatest]; the Azure SDK for Go signs
// its newest layout only. [DefaultVersion] is what both Azure and the
// Azurite emulator accept. Signing allocates the returned [Token] and
// nothing else.
//
// A [Signer] makes read tokens (or any fixed permissions) for the blobs of a
// container and caches each until shortly before it expires, bounded in
// entries and bytes: a server can sign for every request it forwards.
//
// # Where an account is
//
// [BlobEndpoint] is a blob service address: [DefaultBlobEndpoint] for an
// account in Azure's public cloud, [ParseBlobEndpoint] for one a user gave
// (a path-style one such as Azurite's works); [BlobEndpoint.URL] writes a
// blob's URL with a token. [Locate] reconciles an account name, an endpoint
// and a connection string ([ParseConnectionString]) into one [Location], and
// refuses settings that disagree. [ParseBlobURL] splits a pasted blob URL
// into its endpoint, container, blob and token.
//
// # Reading a token
//
// [Parse] reads a token as users paste it into a [ParsedToken]: its kind,
// what it grants, on what and until when. [ParsedToken.VerifyService] and
// [ParsedToken.VerifyAccount] check its signature against a key.
//
// # Secrets
//
// A [SharedKey], a [DelegationKey], a [Token] and a [ParsedToken] print
// without their key or signature through fmt (every verb), encoding/json
// and log/slog; [Token.Encode] alone returns the token. Errors never quote a
// key or a signature, nor a value that failed its check: a value put in the
// wrong field may be a key. [RedactQuery] takes the signature out of a query
// string before it goes near a log. The string-to-sign joins its fields
// with '\n', so blob names and every free-text field that is signed are
// refused when they hold a control character: otherwise two different
// tokens could share one signature.
package sas
