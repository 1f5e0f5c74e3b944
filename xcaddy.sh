#!/usr/bin/env bash
# xcaddy.sh: set up and run this project on a fresh machine.
#
#   ./xcaddy.sh         build ./caddy with the plugin (same as "build")
#   ./xcaddy.sh build   with xcaddy when it is installed, else as xcaddy does
#                       with plain go build; then smoke-test the binary
#   ./xcaddy.sh demo    build, start Azurite on 127.0.0.1, upload
#                       testdata/media into private containers, serve them
#                       with Caddyfile.example on http://localhost:8080 and
#                       print the URLs; Ctrl-C stops both. With --check it
#                       fetches every URL, compares the bytes, and stops.
#   ./xcaddy.sh cluster build, start Azurite with the sample images, three
#                       Caddy nodes with testdata/cluster/Caddyfile on the
#                       three ports after the shield's, and Varnish with
#                       testdata/cluster/shield.vcl in front on
#                       http://localhost:8100 (CLUSTER_PORT), and print the
#                       URLs; Ctrl-C stops them all; --check reads an image
#                       twice through Varnish, then its download (a
#                       redirect Varnish pipes), and stops
#   ./xcaddy.sh bench   build, then measure azure_blob against plain
#                       reverse_proxy on loopback, with Debian's nginx and
#                       Varnish as references, Caddy pinned to one CPU
#                       (internal/bench; its flags, e.g. -seconds 3
#                       -rounds 8, follow "bench")
#   ./xcaddy.sh test    install what the tests need (Go modules, the pinned
#                       Azurite from testdata/package-lock.json, Debian's
#                       Chromium for the upload page, Varnish for the
#                       shield in front of several nodes) and run every
#                       test, the Azurite ones included, with the race detector.
#
# Environment: CI=true makes a test that cannot start Azurite fail instead of
# skipping. FUZZTIME (default 20000x, 0 to skip) bounds the fuzz smoke run.
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with a
# bare "context deadline exceeded" when a -fuzztime duration runs out while a
# worker is busy (golang/go#75804, fixed in Go 1.27); a count has no deadline.
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '==> %s\n' "$*" >&2; }

need_root_for() {
	if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
		echo "xcaddy.sh: $1 is missing and installing it needs root (apt-get install $2)" >&2
		exit 1
	fi
}

apt_install() {
	need_root_for "$1" "$2"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing $2 with apt-get"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

ensure_go() {
	if ! command -v go >/dev/null; then
		[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null || { echo "xcaddy.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 1; }
	log "$(go version)"
	go mod download
}

# ensure_azurite installs the Azurite pinned in testdata/package-lock.json
# into testdata/node_modules, unless the same lockfile is already installed.
ensure_azurite() {
	command -v npm >/dev/null || apt_install npm npm
	local stamp=testdata/node_modules/.installed-lock
	if [ -x testdata/node_modules/.bin/azurite-blob ] && cmp -s testdata/package-lock.json "$stamp"; then
		log "Azurite $(node -p 'require("./testdata/node_modules/azurite/package.json").version') already installed"
		return
	fi
	log "installing Azurite from testdata/package-lock.json"
	npm ci --prefix testdata --no-audit --no-fund --loglevel=error
	cp testdata/package-lock.json "$stamp"
}

# ensure_chromium installs Debian's Chromium, which the upload page's test
# drives headless.
ensure_chromium() {
	command -v chromium >/dev/null || apt_install chromium chromium
	log "$(chromium --version 2>/dev/null | head -n 1)"
}

# ensure_varnish installs Debian's Varnish, the shield of the cluster
# tests and of ./xcaddy.sh cluster. The tests start varnishd themselves
# (on a systemd host the package also starts its own service on port 6081,
# which they do not use).
ensure_varnish() {
	command -v varnishd >/dev/null || PATH="$PATH:/usr/sbin" # where Debian puts it
	command -v varnishd >/dev/null || apt_install varnishd varnish
	log "$(varnishd -V 2>&1 | head -n 1)"
}

run_tests() {
	ensure_go
	ensure_azurite
	ensure_chromium
	ensure_varnish
	command -v curl >/dev/null || apt_install curl curl # the azure-sas command's URLs are tried with curl
	export AZURITE_BLOB="$PWD/testdata/node_modules/.bin/azurite-blob"
	TEST_FIGURES=$(mktemp)
	export TEST_FIGURES
	# The figures are shown even when a test fails: that is when they matter.
	trap show_figures EXIT
	check_user_build
	log "go test -race ./... (Azurite tests included)"
	go test -race -count=1 -timeout 20m ./...
	log "go test the budgets that -race distorts: allocations of a signing and of a read through Caddy, the heap over 1,000,000 blob names, long names, a 1 GiB upload"
	run_named ./sas/ TestAllocations
	run_named ./caddymodule/ TestProxyAllocations TestHeapStaysBoundedOver1MDistinctBlobs TestHeapStaysBoundedOver100kLongBlobNames TestHeapStaysBoundedUploading1GiB
	local fuzztime="${FUZZTIME:-20000x}"
	if [ "$fuzztime" != 0 ]; then
		for pkg in ./sas/ ./caddymodule/; do
			local targets
			targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz') || { echo "xcaddy.sh: no fuzz target listed in $pkg" >&2; exit 1; }
			for target in $targets; do
				log "fuzz $pkg $target for $fuzztime"
				local out
				if ! out=$(go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
					echo "$out" >&2 # the failing input is saved under the package's testdata/fuzz
					exit 1
				fi
			done
		done
	fi
}

# run_named runs the named tests of a package, without -race, and fails
# unless each of them ran and passed: a test renamed or skipped must not
# turn a step into "no tests to run".
run_named() {
	local pkg=$1 out name
	shift
	out=$(go test -count=1 -v -run "^($(IFS='|'; echo "$*"))\$" "$pkg" 2>&1) || { echo "$out" >&2; exit 1; }
	for name in "$@"; do
		if ! grep -q -- "^--- PASS: $name " <<<"$out"; then
			echo "$out" >&2
			echo "xcaddy.sh: $pkg $name did not run and pass" >&2
			exit 1
		fi
	done
	grep -E '^(--- |ok )' <<<"$out" >&2
}

# check_user_build builds Caddy the way README's install line does: what
# `xcaddy build --with github.com/caddy-azure-sas/caddy-azure-sas/caddymodule`
# does (xcaddy's builder.go and environment.go), in a fresh module outside
# this one, with this checkout standing in for the published module.
check_user_build() {
	local here dir caddy_version modules
	here=$PWD
	dir=$(mktemp -d)
	[ -d "$dir" ] || { echo "xcaddy.sh: mktemp -d failed" >&2; exit 1; }
	caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
	cat >"$dir/main.go" <<'EOF'
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/caddy-azure-sas/caddy-azure-sas/caddymodule"
)

func main() {
	caddycmd.Main()
}
EOF
	if ! (
		cd "$dir" || exit 1
		go mod init caddy 2>/dev/null
		go mod edit -replace "github.com/caddy-azure-sas/caddy-azure-sas=$here"
		go get "github.com/caddyserver/caddy/v2@$caddy_version" 2>/dev/null
		go mod tidy -e 2>/dev/null # as xcaddy does before it builds
		CGO_ENABLED=0 go build -trimpath -ldflags '-w -s' -tags nobadger,nomysql,nopgx -o caddy .
	); then
		echo "xcaddy.sh: a fresh module importing the plugin as README says does not build ($dir)" >&2
		exit 1
	fi
	modules=$("$dir/caddy" list-modules)
	for id in http.handlers.azure_blob http.reverse_proxy.transport.azure_blob http.reverse_proxy.upstreams.azure_blob; do
		grep -qx "$id" <<<"$modules" || { echo "xcaddy.sh: a user's build lacks $id" >&2; exit 1; }
	done
	rm -rf "$dir"
	log "a fresh module importing github.com/caddy-azure-sas/caddy-azure-sas/caddymodule builds Caddy with the plugin"
}

show_figures() {
	log "figures measured by the tests"
	cat "$TEST_FIGURES"
	rm -f "$TEST_FIGURES"
}

# build makes ./caddy: Caddy, its standard modules and this plugin.
build() {
	ensure_go
	if command -v xcaddy >/dev/null; then
		# The Caddy version go.mod pins, not xcaddy's default of the latest.
		local caddy_version
		caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
		log "xcaddy build $caddy_version"
		xcaddy build "$caddy_version" --output ./caddy \
			--with github.com/caddy-azure-sas/caddy-azure-sas/caddymodule \
			--replace github.com/caddy-azure-sas/caddy-azure-sas=.
	else
		# xcaddy is not installed: its defaults (builder.go), by hand, on the
		# main package it would generate (caddymodule/cmd/caddy).
		log "go build (xcaddy's defaults) -o ./caddy"
		CGO_ENABLED=0 go build -trimpath -ldflags '-w -s' -tags nobadger,nomysql,nopgx \
			-o ./caddy ./caddymodule/cmd/caddy
	fi
	smoke_test
}

# smoke_test checks the binary: both modules are in, the example is
# formatted and valid.
smoke_test() {
	./caddy version
	local modules
	# Captured first: grep -q quitting early would SIGPIPE caddy under pipefail.
	modules=$(./caddy list-modules)
	for id in http.handlers.azure_blob http.reverse_proxy.transport.azure_blob http.reverse_proxy.upstreams.azure_blob; do
		grep -qx "$id" <<<"$modules" || { echo "xcaddy.sh: ./caddy lacks $id" >&2; exit 1; }
	done
	log "./caddy has http.handlers.azure_blob and the azure_blob transport and upstream source"
	local diff file
	for file in Caddyfile.example testdata/cluster/Caddyfile; do
		if ! diff=$(./caddy fmt --diff "$file"); then
			echo "$diff" >&2
			echo "xcaddy.sh: $file is not formatted (caddy fmt --overwrite $file)" >&2
			exit 1
		fi
	done
	log "Caddyfile.example and testdata/cluster/Caddyfile are formatted"
	# A dummy key: validate provisions the modules, so it must be well-formed.
	AZURE_STORAGE_KEY=ZHVtbXk= ./caddy validate --config Caddyfile.example --adapter caddyfile 2>&1 | tail -n 1
}

# free_port prints a TCP port free on 127.0.0.1.
free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_for_port waits up to 30 s for something to listen on 127.0.0.1:$1.
wait_for_port() {
	for _ in $(seq 1 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "xcaddy.sh: nothing listens on 127.0.0.1:$1 after 30 s" >&2
	return 1
}

# start_azurite starts Azurite on a free port with its data under $1, and
# sets azurite_endpoint to the development account's blob endpoint.
azurite_endpoint=""
start_azurite() {
	local work="$1" port
	port=$(free_port)
	log "starting Azurite on 127.0.0.1:$port (log: $work/azurite.log)"
	testdata/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$port" \
		--location "$work/data" --disableTelemetry >"$work/azurite.log" 2>&1 &
	demo_pids+=($!)
	wait_for_port "$port"
	azurite_endpoint="http://127.0.0.1:$port/devstoreaccount1"
}

# require_free_ports exits unless every port after the first argument (what
# to change instead, for the message) is free on 127.0.0.1.
require_free_ports() {
	local hint="$1" port
	shift
	for port in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "xcaddy.sh: port $port is in use; stop what runs there or $hint" >&2
			exit 1
		fi
	done
}

# start_work makes the temporary directory the demo or the cluster runs in
# (demo_work); on exit it goes, with what they started.
start_work() {
	demo_work=$(mktemp -d)
	trap stop_demo EXIT
	trap 'exit 130' INT TERM
}

# What the demo started, global so that the EXIT trap still sees them once
# demo has returned.
demo_pids=()
demo_work=""

stop_demo() {
	if [ ${#demo_pids[@]} -gt 0 ]; then
		kill "${demo_pids[@]}" 2>/dev/null || true
		wait "${demo_pids[@]}" 2>/dev/null || true
	fi
	[ -z "$demo_work" ] || rm -rf "$demo_work"
}

demo() {
	local check="${1:-}"
	build
	ensure_azurite
	command -v curl >/dev/null || apt_install curl curl
	local work site_port upload_port content_port files_port endpoint urls password
	site_port="${DEMO_PORT:-8080}"
	upload_port=$((site_port + 1))
	content_port=$((site_port + 2))
	files_port=$((site_port + 3))
	require_free_ports "set DEMO_PORT (the upload page, the uploads' own origin and the site from a container take the three ports after it)" \
		"$site_port" "$upload_port" "$content_port" "$files_port"
	start_work
	work=$demo_work
	start_azurite "$work"
	endpoint=$azurite_endpoint

	log "uploading testdata/media into the private containers photos and media, and testdata/demo/site with it into site"
	urls=$(go run ./internal/demo -endpoint "$endpoint" -media testdata/media -site "http://localhost:$site_port" \
		-uploads "http://localhost:$upload_port" -files testdata/demo/site -cors "http://localhost:$files_port")
	password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')

	log "serving Caddyfile.example on http://localhost:$site_port, the upload page on http://localhost:$upload_port and the uploads on http://localhost:$content_port"
	# The dev account's key is public (Azurite's documented default).
	SITE_ADDRESS="http://localhost:$site_port" AZURE_BLOB_ENDPOINT="$endpoint" \
		AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' \
		CADDYFILE_EXAMPLE="$PWD/Caddyfile.example" UPLOAD_ADDRESS="http://localhost:$upload_port" CONTENT_ADDRESS="http://localhost:$content_port" \
		FILES_ADDRESS="http://localhost:$files_port" CORS_ORIGIN="http://localhost:$files_port" \
		UPLOAD_PAGE="$PWD/testdata/demo/upload" DEMO_PASSWORD_HASH="$(./caddy hash-password --plaintext "$password")" \
		./caddy run --config testdata/demo/Caddyfile --adapter caddyfile >"$work/caddy.log" 2>&1 &
	demo_pids+=($!)
	if ! wait_for_port "$site_port" || ! kill -0 "${demo_pids[1]}" 2>/dev/null; then
		tail -n 20 "$work/caddy.log" >&2
		exit 1
	fi

	echo
	echo "Private blobs, served by Caddy with SAS tokens it signs itself:"
	echo "$urls" | sed 's/^/  /'
	echo "  http://localhost:$site_port/images/missing.jpg (404 from the error page)"
	echo "Downloads, redirected to Azurite with a read-only URL Caddy signs:"
	echo "$urls" | grep "/images/" | head -n 1 | sed -e 's#/images/#/downloads/#' -e 's/^/  /'
	echo "An upload page: choose an image, it goes straight to Azurite with a create-only URL from azure_sas:"
	echo "  http://localhost:$upload_port/upload/ (user demo, password $password)"
	echo "Your uploads, from an origin of their own (user_content: media inline, anything else a download):"
	echo "  http://localhost:$content_port/view/<name>"
	echo "A site served by file_server from the private container site: pages, listings, a single-page app:"
	echo "  http://localhost:$files_port/  http://localhost:$files_port/files/  http://localhost:$files_port/app/any/deep/link"
	echo

	if [ "$check" = "--check" ]; then
		demo_check "$urls" "$site_port"
		demo_check_upload "$upload_port" "$content_port" "$password"
		demo_check_files "$files_port"
		demo_check_cors "$site_port" "http://localhost:$files_port" "$urls"
		return
	fi
	echo "Press Ctrl-C to stop Caddy and Azurite."
	wait "${demo_pids[@]}"
}

# cluster starts what docs/deploying.md's "Deploying at scale" shows: Azurite
# with the sample images, three Caddy nodes running testdata/cluster/Caddyfile
# on the ports after the shield's (8101-8103 by default, the ports
# testdata/cluster/shield.vcl names; admin API on 8201-8203), and Varnish
# with that VCL in front, then prints the URLs.
cluster() {
	build
	ensure_azurite
	ensure_varnish
	command -v curl >/dev/null || apt_install curl curl
	local work shield_port urls i node_dir
	shield_port="${CLUSTER_PORT:-8100}"
	require_free_ports "set CLUSTER_PORT (the nodes take the 3 ports after it, their admin APIs those 100 above)" \
		"$shield_port" $((shield_port + 1)) $((shield_port + 2)) $((shield_port + 3)) \
		$((shield_port + 101)) $((shield_port + 102)) $((shield_port + 103))
	start_work
	work=$demo_work
	start_azurite "$work"
	log "uploading testdata/media into Azurite (the nodes serve the images, from the container photos)"
	urls=$(go run ./internal/demo -endpoint "$azurite_endpoint" -media testdata/media -site "http://localhost:$shield_port" | grep '/images/')

	# The VCL names ports 8101-8103; a copy names the nodes' own.
	sed -e "s/\"8101\"/\"$((shield_port + 1))\"/" -e "s/\"8102\"/\"$((shield_port + 2))\"/" -e "s/\"8103\"/\"$((shield_port + 3))\"/" \
		testdata/cluster/shield.vcl >"$work/shield.vcl"
	for i in 1 2 3; do
		node_dir="$work/node$i"
		mkdir -p "$node_dir"
		# The dev account's key is public (Azurite's documented default).
		printf '%s' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$node_dir/account_key"
		log "node$i: Caddy on 127.0.0.1:$((shield_port + i)) (admin 127.0.0.1:$((shield_port + 100 + i)), log: $node_dir/caddy.log)"
		NODE_PORT=$((shield_port + i)) NODE_ADMIN_PORT=$((shield_port + 100 + i)) NODE_DATA="$node_dir" \
			AZURE_BLOB_ENDPOINT="$azurite_endpoint" XDG_DATA_HOME="$node_dir" XDG_CONFIG_HOME="$node_dir" \
			./caddy run --config testdata/cluster/Caddyfile --adapter caddyfile >"$node_dir/caddy.log" 2>&1 &
		demo_pids+=($!)
	done
	for i in 1 2 3; do
		wait_for_port $((shield_port + i)) || { tail -n 20 "$work/node$i/caddy.log" >&2; exit 1; }
	done
	log "Varnish with testdata/cluster/shield.vcl on 127.0.0.1:$shield_port (varnishlog -n $work/varnish)"
	# Transient storage (passed objects, such as the big blobs the VCL does
	# not cache) is bounded too: Varnish 7.1 buffers them as fast as a node
	# sends them.
	"$(command -v varnishd)" -F -j none -n "$work/varnish" -a "127.0.0.1:$shield_port" -T none \
		-f "$work/shield.vcl" -s malloc,256m -s Transient=malloc,256m >"$work/varnish.log" 2>&1 &
	demo_pids+=($!)
	wait_for_port "$shield_port" || { tail -n 20 "$work/varnish.log" >&2; exit 1; }

	echo
	echo "Private blobs through Varnish (X-Cache: miss, then hit) and three Caddy nodes:"
	echo "$urls" | sed 's/^/  /'
	echo "Downloads, redirected to Azurite with a token; Varnish pipes them, so it neither keeps nor logs them:"
	echo "$urls" | head -n 1 | sed -e 's#/images/#/dl/#' -e 's/^/  /'
	echo "Each node on its own: http://localhost:$((shield_port + 1))/images/… (and the next two ports). Rotate a node's key:"
	echo "  write it to $work/node1/account_key, then"
	echo "  NODE_PORT=$((shield_port + 1)) NODE_ADMIN_PORT=$((shield_port + 101)) NODE_DATA=$work/node1 AZURE_BLOB_ENDPOINT=$azurite_endpoint \\"
	echo "    ./caddy reload --config testdata/cluster/Caddyfile --address 127.0.0.1:$((shield_port + 101)) --force"
	echo "Watch the shield: varnishlog -n $work/varnish; its counters: varnishstat -n $work/varnish"
	echo
	if [ "${1:-}" = "--check" ]; then
		cluster_check "$urls"
		return
	fi
	echo "Press Ctrl-C to stop Varnish, the nodes and Azurite."
	wait "${demo_pids[@]}"
}

# cluster_check reads the first URL twice through the shield: a miss, then
# a hit with the same bytes; then its download: a redirect that Varnish
# pipes (no X-Cache) to the same bytes at Azurite.
cluster_check() {
	local url first second download headers location
	url=$(echo "$1" | head -n 1)
	first=$(curl -sS -D - -o "$demo_work/first" "$url" | tr -d '\r' | sed -n 's/^X-Cache: //Ip')
	second=$(curl -sS -D - -o "$demo_work/second" "$url" | tr -d '\r' | sed -n 's/^X-Cache: //Ip')
	if [ "$first $second" != "miss hit" ] || ! cmp -s "$demo_work/first" "$demo_work/second" || [ ! -s "$demo_work/first" ]; then
		echo "cluster: $url gave X-Cache $first then $second, or different bytes" >&2
		exit 1
	fi
	log "cluster: $url was a miss, then a hit with the same bytes"
	download=${url/\/images\//\/dl\/}
	headers=$(curl -sS -D - -o /dev/null "$download" | tr -d '\r')
	location=$(sed -n 's/^Location: //Ip' <<<"$headers")
	if ! grep -q '^HTTP/[0-9.]* 302 ' <<<"$headers" || grep -qi '^X-Cache:' <<<"$headers" || [ -z "$location" ] ||
		! curl -sS -o "$demo_work/downloaded" "$location" || ! cmp -s "$demo_work/first" "$demo_work/downloaded"; then
		echo "cluster: $download was not a piped redirect to the same bytes" >&2
		exit 1
	fi
	log "cluster: $download was piped: a 302 to Azurite, with the same bytes there"
}

# demo_check fetches every demo URL and compares it with its file.
demo_check() {
	local urls="$1" site_port="$2" url file got status failed=0
	while read -r url; do
		file=$(printf '%s' "$url" | sed -e "s#^http://localhost:$site_port/images/#testdata/media/images/#" \
			-e "s#^http://localhost:$site_port/media/#testdata/media/video/#")
		file=$(printf '%b' "${file//%/\\x}")
		got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$url" 2>&1) || true
		if [ "$got" != "200 $(stat -c %s "$file")" ] || ! curl -sS "$url" | cmp -s - "$file"; then
			echo "demo: $url gave $got, not the bytes of $file" >&2
			failed=1
		fi
	done <<<"$urls"
	url=$(echo "$urls" | grep "/images/" | head -n 1)
	file=$(printf '%s' "$url" | sed -e "s#^http://localhost:$site_port/images/#testdata/media/images/#")
	file=$(printf '%b' "${file//%/\\x}")
	url=${url/\/images\//\/downloads\/}
	status=$(curl -s -o /dev/null -w '%{http_code}' "$url") || true
	if [ "$status" != 302 ] || ! curl -sSL "$url" | cmp -s - "$file"; then
		echo "demo: $url gave $status, or its redirect not the bytes of $file" >&2
		failed=1
	fi
	status=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$site_port/images/missing.jpg") || true
	[ "$status" = 404 ] || { echo "demo: a missing blob gave $status, not 404" >&2; failed=1; }
	[ "$failed" = 0 ] || exit 1
	log "demo: every URL served its file byte for byte, a download redirected to it, and a missing blob is 404"
}

# demo_check_upload asks the upload site for its page and for an upload
# URL, and uploads a file with it, as the page does; the file reads back
# on the uploads' own origin as a download, and by a redirect under the
# user's prefix (the test suite drives the page itself in Chromium).
demo_check_upload() {
	local port="$1" content_port="$2" password="$3" status answer url headers location
	status=$(curl -s -o /dev/null -w '%{http_code}' -u "demo:$password" "http://localhost:$port/upload/") || true
	[ "$status" = 200 ] || { echo "demo: the upload page gave $status, not 200" >&2; exit 1; }
	answer=$(curl -sS -u "demo:$password" -H 'Content-Type: application/json' \
		-d '{"blob": "check.txt", "permissions": "c"}' "http://localhost:$port/sas") || true
	url=$(printf '%s' "$answer" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
	[ -n "$url" ] || { echo "demo: /sas gave no URL" >&2; exit 1; }
	status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' -H 'x-ms-blob-content-type: text/html' \
		--data-binary 'uploaded' "$url") || true
	[ "$status" = 201 ] || { echo "demo: uploading with the issued URL gave $status, not 201" >&2; exit 1; }
	headers=$(curl -sS -D - -o "$demo_work/check.txt" -u "demo:$password" "http://localhost:$content_port/view/check.txt" | tr -d '\r')
	if [ "$(cat "$demo_work/check.txt")" != uploaded ] || ! grep -qix 'Content-Disposition: attachment' <<<"$headers" ||
		! grep -qix 'Content-Type: application/octet-stream' <<<"$headers"; then
		echo "demo: the upload (stored as text/html) did not read back on the uploads' origin as an attachment" >&2
		exit 1
	fi
	location=$(curl -sS -D - -o /dev/null -u "demo:$password" "http://localhost:$port/get/check.txt" | tr -d '\r' | sed -n 's/^Location: //Ip')
	[ "$(curl -sS "$location")" = uploaded ] ||
		{ echo "demo: the upload did not read back by its redirect" >&2; exit 1; }
	# Through Caddy (azure_upload): an image is stored, a page named .png is not.
	status=$(curl -s -o /dev/null -w '%{http_code}' -u "demo:$password" -X PUT --data-binary @testdata/media/images/pattern.png \
		"http://localhost:$port/put/check-through.png") || true
	[ "$status" = 201 ] || { echo "demo: an image uploaded through /put/ gave $status, not 201" >&2; exit 1; }
	status=$(curl -s -o /dev/null -w '%{http_code}' -u "demo:$password" -X PUT --data-binary '<!doctype html><p>a page' \
		"http://localhost:$port/put/page.png") || true
	[ "$status" = 415 ] || { echo "demo: a page named .png uploaded through /put/ gave $status, not 415" >&2; exit 1; }
	log "demo: the upload page answers, /sas issued a URL that uploaded, the upload reads back as a download on its own origin and by a redirect, and /put/ took an image and refused a page"
}

# demo_check_files fetches from the site of the container site: the
# listing of files/ in HTML and in JSON, a file, a range of it, and a deep
# link of the app, each compared with what testdata holds.
demo_check_files() {
	local base="http://localhost:$1" file=testdata/media/images/sunset.jpg failed=0 answer
	answer=$(curl -sS "$base/files/images/") || true
	grep -q 'href="./sunset.jpg"' <<<"$answer" || { echo "demo: the listing of /files/images/ does not link sunset.jpg" >&2; failed=1; }
	answer=$(curl -sS -H 'Accept: application/json' "$base/files/images/") || true
	grep -q '"name":"sunset.jpg"' <<<"$answer" || { echo "demo: the JSON listing of /files/images/ has no sunset.jpg" >&2; failed=1; }
	curl -sS "$base/files/images/sunset.jpg" | cmp -s - "$file" || { echo "demo: /files/images/sunset.jpg is not $file" >&2; failed=1; }
	answer=$(curl -sS -o "$demo_work/range" -w '%{http_code}' -H 'Range: bytes=100-199' "$base/files/images/sunset.jpg") || true
	if [ "$answer" != 206 ] || ! cmp -s "$demo_work/range" <(tail -c +101 "$file" | head -c 100); then
		echo "demo: a range of /files/images/sunset.jpg gave $answer, or not bytes 100-199 of $file" >&2
		failed=1
	fi
	curl -sS "$base/app/any/deep/link" | cmp -s - testdata/demo/site/app/index.html ||
		{ echo "demo: /app/any/deep/link is not the app's index.html" >&2; failed=1; }
	[ "$failed" = 0 ] || exit 1
	log "demo: the site from a container lists files/ in HTML and JSON, serves a file and a range of it, and loads the app from a deep link"
}

# demo_check_cors asks as a page of the site from a container would: a
# preflight for a range of the video, answered for that origin; and a
# download's redirect, followed to Azurite, each with the origin allowed.
demo_check_cors() {
	local port="$1" origin="$2" urls="$3" headers url location
	headers=$(curl -sS -o /dev/null -D - -X OPTIONS -H "Origin: $origin" -H 'Access-Control-Request-Method: GET' \
		-H 'Access-Control-Request-Headers: range' "http://localhost:$port/media/clip.webm" | tr -d '\r')
	if ! grep -q '^HTTP/[0-9.]* 204' <<<"$headers" || ! grep -qix "Access-Control-Allow-Origin: $origin" <<<"$headers"; then
		echo "demo: the preflight for /media/clip.webm from $origin was not allowed" >&2
		exit 1
	fi
	url=$(echo "$urls" | grep "/images/" | head -n 1)
	url=${url/\/images\//\/downloads\/}
	headers=$(curl -sS -o /dev/null -D - -H "Origin: $origin" "$url" | tr -d '\r')
	location=$(sed -n 's/^Location: //Ip' <<<"$headers")
	if ! grep -qix "Access-Control-Allow-Origin: $origin" <<<"$headers" || [ -z "$location" ] ||
		! curl -sS -o /dev/null -D - -H "Origin: $origin" "$location" | tr -d '\r' | grep -qix "Access-Control-Allow-Origin: $origin"; then
		echo "demo: a download's redirect, or Azurite's answer to it, did not allow $origin" >&2
		exit 1
	fi
	log "demo: $origin may read: the preflight for the video is answered, and a download's redirect and Azurite's answer allow it"
}

# bench measures azure_blob against plain reverse_proxy, nginx and Varnish
# (internal/bench), with the servers pinned to one CPU.
bench() {
	build
	ensure_varnish
	command -v nginx >/dev/null || PATH="$PATH:/usr/sbin"
	command -v nginx >/dev/null || apt_install nginx nginx
	local dir cpus
	dir=$(mktemp -d)
	go build -o "$dir/bench" ./internal/bench
	# The CPUs this process may use (a cpuset may leave out some).
	read -r -a cpus <<<"$(cpu_list "$(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status)")"
	if [ "${#cpus[@]}" -ge 2 ]; then
		# The servers run on the last CPU, the bench process (upstream and
		# load generator) on the others.
		local server=${cpus[-1]} others
		others=$(IFS=,; echo "${cpus[*]:0:${#cpus[@]}-1}")
		log "bench: servers on CPU $server, the upstream and the load on CPU $others"
		taskset -c "$others" "$dir/bench" -caddy ./caddy -pin "$server" "$@" || { rm -rf "$dir"; exit 1; }
	else
		log "bench: one CPU, nothing pinned"
		"$dir/bench" -caddy ./caddy -pin '' "$@" || { rm -rf "$dir"; exit 1; }
	fi
	rm -rf "$dir"
}

# cpu_list expands a CPU list such as 0-2,5 into "0 1 2 5".
cpu_list() {
	local part parts out=()
	IFS=, read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		if [[ $part == *-* ]]; then
			out+=($(seq "${part%-*}" "${part#*-}"))
		else
			out+=("$part")
		fi
	done
	echo "${out[*]}"
}

case "${1:-build}" in
build) build ;;
bench)
	shift
	bench "$@"
	;;
demo) demo "${2:-}" ;;
cluster) cluster "${2:-}" ;;
test) run_tests ;;
*)
	echo "usage: ./xcaddy.sh [build|bench [flags]|demo [--check]|cluster [--check]|test]" >&2
	exit 2
	;;
esac
