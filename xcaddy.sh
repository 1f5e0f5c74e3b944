#!/usr/bin/env bash
# xcaddy.sh: set up and run this project on a fresh machine.
#
#   ./xcaddy.sh test    install what the tests need (Go modules, the pinned
#                       Azurite from testdata/package-lock.json) and run every
#                       test, the Azurite ones included, with the race detector.
#
# The Caddy build (./xcaddy.sh, ./xcaddy.sh build) and ./xcaddy.sh demo come
# with the Caddy module (caddymodule/).
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

case "${1:-}" in
test) run_tests ;;
*)
	echo "usage: ./xcaddy.sh test" >&2
	exit 2
	;;
esac
