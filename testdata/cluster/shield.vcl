# A Varnish shield in front of Caddy nodes that serve Azure blobs with
# azure_blob. The nodes share nothing but their configuration and keys, so
# any node can answer any request: round robin, with a health probe each.
vcl 4.1;

import directors;
import std;

# A node is alive when it answers /healthz itself (a `respond` route): a
# probe through Azure would mark every node sick at once when Azure is slow.
probe node_alive {
	.url = "/healthz";
	.interval = 1s;
	.timeout = 2s;
	.window = 3;
	.threshold = 2;
	.initial = 2;
}

# ./xcaddy.sh cluster and the test put the nodes' ports here.
backend node1 { .host = "127.0.0.1"; .port = "8101"; .probe = node_alive; }
backend node2 { .host = "127.0.0.1"; .port = "8102"; .probe = node_alive; }
backend node3 { .host = "127.0.0.1"; .port = "8103"; .probe = node_alive; }

sub vcl_init {
	new nodes = directors.round_robin();
	nodes.add_backend(node1);
	nodes.add_backend(node2);
	nodes.add_backend(node3);
}

sub vcl_recv {
	set req.backend_hint = nodes.backend();
	if (req.url == "/healthz") {
		return (pass);
	}
	# Blobs do not depend on cookies; requests with Authorization still pass
	# (Varnish's built-in rule), for routes behind basic_auth.
	unset req.http.Cookie;
}

sub vcl_hash {
	# azure_blob drops a client's query string whole, so it names no other
	# object: without it in the cache key, ?v=1, ?v=2 … cannot bust the
	# cache. The request keeps it, for routes that read it.
	hash_data(regsub(req.url, "\?.*$", ""));
	if (req.http.host) {
		hash_data(req.http.host);
	} else {
		hash_data(server.ip);
	}
	return (lookup);
}

sub vcl_backend_response {
	# Too big to keep (over 64 MiB: a video, say): stream it, and for two
	# minutes pass requests for it straight to a node, Range included, so
	# that a seek does not fetch the whole blob again.
	if (std.integer(beresp.http.Content-Length, 0) > 64 * 1024 * 1024) {
		return (pass(120s));
	}
	# Cache-Control from the node sets the TTL (azure_blob's cache_control
	# signs it into the token, so Azure answers with it). Past the TTL the
	# object is revalidated with its ETag and Last-Modified (a 304 refreshes
	# it), and stale bytes are served only where the origin allows it with
	# stale-while-revalidate.
	if (beresp.status == 200 && (beresp.http.ETag || beresp.http.Last-Modified)) {
		set beresp.keep = 1h;
	}
	if (beresp.http.Cache-Control !~ "stale-while-revalidate") {
		set beresp.grace = 0s;
	}
}

sub vcl_backend_error {
	# A node that died since its last probe: ask the next one before
	# failing the client. Only requests that got no answer are retried.
	if (bereq.retries < 2) {
		return (retry);
	}
}

sub vcl_deliver {
	if (obj.hits > 0) {
		set resp.http.X-Cache = "hit";
	} else {
		set resp.http.X-Cache = "miss";
	}
}
