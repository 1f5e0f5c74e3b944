// Package caddymodule serves private Azure Blob Storage containers through
// Caddy: Caddy maps a public path to a blob and forwards the request to
// Azure with a short-lived, read-only SAS that it signs itself (package sas)
// and caches until shortly before expiry. The account key stays in Caddy;
// clients never see a token.
//
// It registers these Caddy modules and commands:
//
//   - http.reverse_proxy.transport.azure_blob ([Transport]): a
//     reverse_proxy transport that reads /container/blob from an account's
//     blob endpoint, authorized with a token it signs (account key, or a
//     user delegation key obtained through Microsoft Entra ID with
//     [Identity]), a ready-made sas_token, or nothing for a public container.
//     Its options are listed once, in originOptions, which also says which
//     other modules take each.
//   - http.handlers.azure_blob ([Handler]): maps a request path to a blob of
//     one container (prefix, strip_prefix, index), refusing what cannot name
//     a blob before Azure is asked, and hands the mapped name to the
//     transport; or, with [Redirect], answers with the blob's URL and a
//     read-only token, so that the client reads from Azure.
//   - http.handlers.azure_sas ([Issuer]): behind Caddy's authentication,
//     issues a blob URL with a SAS for what its configuration allows
//     (prefix from placeholders, permissions, lifetime): the valet-key
//     pattern, for uploads and downloads straight to Azure.
//   - http.handlers.azure_upload ([Uploader]): takes a PUT's body as a
//     blob with the limits a SAS cannot express (max_size, types told by
//     the bytes, create-only), staged as blocks and committed last.
//   - caddy.fs.azure_blob ([Filesystem]): a Caddy filesystem over a
//     container, for file_server's fs: listings, index files, try_files,
//     ranges, its reads signed per blob and its listings per container.
//   - http.reverse_proxy.upstreams.azure_blob ([Upstreams]): the address of
//     an account's blob endpoint, worked out at provision from the same
//     options as the transport, for a connection string that is only known
//     then.
//   - the azure_blob Caddyfile directive (caddyfile.go): expands into the
//     handler and reverse_proxy with the transport per origin, with fallback
//     origins and Azure's statuses mapped in handle_response routes
//     (origins.go).
//   - the caddy azure-sas command: sign prints a signed URL or token for an
//     operator at a shell, inspect explains a pasted URL or token.
//
// Each module that reaches a container embeds an [Origin] (account,
// endpoint, container, credential) and builds its own authority from it
// (authority.go): what signs, and where the blobs are. The two that read
// blobs, the transport and a redirect, hold a [ReadOrigin] (an Origin and
// how its blobs are read) and build their own reader from it (reader.go):
// the authority, the read tokens and their cache, the connection to
// Azure. None reads another module's.
//
// Nothing it logs, no placeholder and no metric ever holds a key, a token
// or a signature.
package caddymodule
