// Command caddy is Caddy with the standard modules and caddy-azure-sas, as
// xcaddy would build it. ./xcaddy.sh builds it into ./caddy.
package main

import (
	_ "time/tzdata"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-azure-sas/caddy-azure-sas/caddymodule"
)

func main() { caddycmd.Main() }
