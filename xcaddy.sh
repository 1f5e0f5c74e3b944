#!/usr/bin/env bash
# xcaddy.sh: set up and run this project on a fresh machine.
#
#   ./xcaddy.sh         build ./caddy with the plugin (same as "build")
#   ./xcaddy.sh build   with xcaddy when it is installed, else as xcaddy does
#                       with plain go build; then smoke-test the binary
#   ./xcaddy.sh test    install what the tests need (Go modules, the pinned
#                       Azurite from testdata/package-lock.json) and run every
#                       test, the Azurite ones included, with the race detector.
#
# Environment: CI=true makes a test that cannot start Azurite fail instead of
# skipping. FUZZTIME (default 5s, 0 to skip) bounds the fuzz smoke run.
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

run_tests() {
	ensure_go
	ensure_azurite
	export AZURITE_BLOB="$PWD/testdata/node_modules/.bin/azurite-blob"
	log "go test -race ./... (Azurite tests included)"
	go test -race -count=1 ./... ./testdata/azurite/...
	local fuzztime="${FUZZTIME:-5s}"
	if [ "$fuzztime" != 0 ]; then
		for pkg in ./sas/ ./caddymodule/; do
			for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
				log "fuzz $pkg $target for $fuzztime"
				go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" >/dev/null
			done
		done
	fi
}

# build makes ./caddy: Caddy, its standard modules and this plugin.
build() {
	ensure_go
	if command -v xcaddy >/dev/null; then
		log "xcaddy build"
		xcaddy build --output ./caddy \
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
	for id in http.handlers.azure_blob http.reverse_proxy.transport.azure_blob; do
		./caddy list-modules | grep -qx "$id" || { echo "xcaddy.sh: ./caddy lacks $id" >&2; exit 1; }
	done
	log "./caddy has http.handlers.azure_blob and http.reverse_proxy.transport.azure_blob"
	local diff
	if ! diff=$(./caddy fmt --diff Caddyfile.example); then
		echo "$diff" >&2
		echo "xcaddy.sh: Caddyfile.example is not formatted (caddy fmt --overwrite Caddyfile.example)" >&2
		exit 1
	fi
	log "Caddyfile.example is formatted"
	# A dummy key: validate provisions the modules, so it must be well-formed.
	AZURE_STORAGE_KEY=ZHVtbXk= ./caddy validate --config Caddyfile.example --adapter caddyfile 2>&1 | tail -n 1
}

case "${1:-build}" in
build) build ;;
test) run_tests ;;
*)
	echo "usage: ./xcaddy.sh [build|test]" >&2
	exit 2
	;;
esac
