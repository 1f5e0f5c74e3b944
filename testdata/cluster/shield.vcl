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
	# A % that does not start an escape: the nodes answer 400 to it (Go's
	# URL parser), and decoding around it could make a new escape.
	if (req.url ~ "^[^?]*%(?![0-9A-Fa-f]{2})") {
		return (synth(400));
	}
	call normalise_path;
	# A dot segment (/./, /../) is resolved by the nodes' path matchers, so
	# /x/../images/a.png is /images/a.png there, and /x/../dl/a.png a
	# redirect the rule below would not see. Clients remove dot segments
	# before sending (RFC 3986, 5.2.4); a request that still has them is
	# refused, %2F as a separator included.
	if (req.url ~ "^[^?]*(?i)(/|%2F)\.\.?(/|%2F|\?|$)") {
		return (synth(400));
	}
	# Redirect routes (azure_blob with redirect) are piped: their answers
	# carry a token in Location, which Varnish's log would record whole
	# before any VCL runs. Piped, an answer is neither cached nor parsed nor
	# logged. The nodes route /dl/ whatever its case and with its slashes
	# escaped (%2F) too. List every redirect route here.
	if (req.url ~ "(?i)^(/|%2F)+dl(/|%2F)") {
		return (pipe);
	}
	# Blobs do not depend on cookies; requests with Authorization still pass
	# (Varnish's built-in rule), for routes behind basic_auth.
	unset req.http.Cookie;
}

# Spellings of a path that the nodes take for the same blob share its
# object, so that they cannot bust the cache, nor reach a redirect route
# unpiped. Other spellings still name objects of their own: an escape's
# hex digits in lower case, a reserved or non-ASCII character raw or
# escaped, an escaped slash.
sub normalise_path {
	# %XX of an unreserved character (RFC 3986, 2.3: A-Z a-z 0-9 - . _ ~)
	# in the path is that character. Other escapes stay: %2F decoded would
	# split a segment, and %25 would be decoded twice (here, then by the
	# node). Clients seldom escape unreserved characters, so this runs for
	# few requests; the query is set aside meanwhile, as sent.
	if (req.url ~ "^[^?]*%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9AaFf]|6[1-9A-Fa-f]|7[0-9AaEe])") {
		set req.http.X-Shield-Query = regsub(req.url, "^[^?]*", "");
		set req.url = regsub(req.url, "\?.*$", "");
		set req.url = regsuball(req.url, "%3([0-9])", "\1");
		set req.url = regsuball(req.url, "%2[Dd]", "-");
		set req.url = regsuball(req.url, "%2[Ee]", ".");
		set req.url = regsuball(req.url, "%5[Ff]", "_");
		set req.url = regsuball(req.url, "%7[Ee]", "~");
		set req.url = regsuball(req.url, "%41", "A");
		set req.url = regsuball(req.url, "%42", "B");
		set req.url = regsuball(req.url, "%43", "C");
		set req.url = regsuball(req.url, "%44", "D");
		set req.url = regsuball(req.url, "%45", "E");
		set req.url = regsuball(req.url, "%46", "F");
		set req.url = regsuball(req.url, "%47", "G");
		set req.url = regsuball(req.url, "%48", "H");
		set req.url = regsuball(req.url, "%49", "I");
		set req.url = regsuball(req.url, "%4[Aa]", "J");
		set req.url = regsuball(req.url, "%4[Bb]", "K");
		set req.url = regsuball(req.url, "%4[Cc]", "L");
		set req.url = regsuball(req.url, "%4[Dd]", "M");
		set req.url = regsuball(req.url, "%4[Ee]", "N");
		set req.url = regsuball(req.url, "%4[Ff]", "O");
		set req.url = regsuball(req.url, "%50", "P");
		set req.url = regsuball(req.url, "%51", "Q");
		set req.url = regsuball(req.url, "%52", "R");
		set req.url = regsuball(req.url, "%53", "S");
		set req.url = regsuball(req.url, "%54", "T");
		set req.url = regsuball(req.url, "%55", "U");
		set req.url = regsuball(req.url, "%56", "V");
		set req.url = regsuball(req.url, "%57", "W");
		set req.url = regsuball(req.url, "%58", "X");
		set req.url = regsuball(req.url, "%59", "Y");
		set req.url = regsuball(req.url, "%5[Aa]", "Z");
		set req.url = regsuball(req.url, "%61", "a");
		set req.url = regsuball(req.url, "%62", "b");
		set req.url = regsuball(req.url, "%63", "c");
		set req.url = regsuball(req.url, "%64", "d");
		set req.url = regsuball(req.url, "%65", "e");
		set req.url = regsuball(req.url, "%66", "f");
		set req.url = regsuball(req.url, "%67", "g");
		set req.url = regsuball(req.url, "%68", "h");
		set req.url = regsuball(req.url, "%69", "i");
		set req.url = regsuball(req.url, "%6[Aa]", "j");
		set req.url = regsuball(req.url, "%6[Bb]", "k");
		set req.url = regsuball(req.url, "%6[Cc]", "l");
		set req.url = regsuball(req.url, "%6[Dd]", "m");
		set req.url = regsuball(req.url, "%6[Ee]", "n");
		set req.url = regsuball(req.url, "%6[Ff]", "o");
		set req.url = regsuball(req.url, "%70", "p");
		set req.url = regsuball(req.url, "%71", "q");
		set req.url = regsuball(req.url, "%72", "r");
		set req.url = regsuball(req.url, "%73", "s");
		set req.url = regsuball(req.url, "%74", "t");
		set req.url = regsuball(req.url, "%75", "u");
		set req.url = regsuball(req.url, "%76", "v");
		set req.url = regsuball(req.url, "%77", "w");
		set req.url = regsuball(req.url, "%78", "x");
		set req.url = regsuball(req.url, "%79", "y");
		set req.url = regsuball(req.url, "%7[Aa]", "z");
		set req.url = req.url + req.http.X-Shield-Query;
		unset req.http.X-Shield-Query;
	}
	# The nodes use handle_path, which cleans the path: /images//a.png is
	# the blob a.png, as /images/a.png is. The query keeps its slashes.
	if (req.url ~ "^[^?]*//") {
		set req.url = regsuball(regsub(req.url, "\?.*$", ""), "//+", "/") + regsub(req.url, "^[^?]*", "");
	}
	# Caddy's path matchers ignore case: /IMAGES/a.png is /images/a.png.
	# Blob names do not, so only the routes' prefixes are lowered.
	set req.url = regsub(req.url, "(?i)^/images/", "/images/");
	set req.url = regsub(req.url, "(?i)^/dl/", "/dl/");
}

sub vcl_hash {
	# azure_blob drops a client's query string whole, so it names no other
	# object: without it in the cache key, ?v=1, ?v=2 … cannot bust the
	# cache (nor can the spellings normalise_path folds). The request keeps
	# it, for routes that read it.
	hash_data(regsub(req.url, "\?.*$", ""));
	if (req.http.host) {
		hash_data(req.http.host);
	} else {
		hash_data(server.ip);
	}
	return (lookup);
}

sub vcl_backend_response {
	# A redirect whose Location carries a token is never kept (hit-for-miss
	# for two minutes): every client gets a fresh answer from a node. This
	# holds for a redirect route vcl_recv does not pipe; its Location is
	# still in Varnish's log.
	if (beresp.status >= 300 && beresp.status < 400 && beresp.http.Location ~ "[?&]sig=") {
		set beresp.ttl = 120s;
		set beresp.uncacheable = true;
		return (deliver);
	}
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

sub vcl_pipe {
	# One request per piped connection: the client's next request on it
	# would otherwise reach the node unseen by this VCL.
	set bereq.http.Connection = "close";
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
