vcl 4.1;

# Varnish in front of the imageboard's web role, purged by the worker
# (IMAGEBOARD_EDGE_PURGE=varnish, IMAGEBOARD_EDGE_PURGE_URLS=http://<this varnish>:6081).
#
# * PURGE <url>                      drops every variant of that URL.
# * BAN / with "Surrogate-Key: k1 k2" drops every object whose Surrogate-Key header (sent by
#                                    the site on its pages and JSON) holds one of the keys:
#                                    a thread under any slug, everything of a board, ...
# Both are accepted from internal addresses only (acl purgers).
#
# Pages that carry a Surrogate-Key are kept for PAGE_TTL below instead of the five seconds
# the site asks of shared caches: the worker purges them on every write that changes them.
# Use this file only with the worker's purge on; without it, delete the PAGE_TTL line.
#
# Set the backend to the web role (a Service name resolves at VCL load time).

import cookie;
import std;

backend default {
    .host = "web"; .port = "8080";
    .connect_timeout = 5s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 60s;
}

acl purgers {
    "127.0.0.0"/8;
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
    "::1";
    "fc00::"/7;
}

sub vcl_recv {
    if (req.method == "PURGE" || req.method == "BAN") {
        # client.ip is the connection's peer: a forwarded-for header cannot borrow an address.
        if (client.ip !~ purgers) {
            return (synth(403, "Purging is for the site's workers only."));
        }
        if (req.method == "PURGE") {
            return (purge);
        }
        if (!req.http.Surrogate-Key) {
            return (synth(400, "BAN needs a Surrogate-Key header with the keys to drop."));
        }
        # Keys are [a-z0-9:_-]; anything else is dropped before it reaches a regular expression.
        std.collect(req.http.Surrogate-Key, " ");
        set req.http.X-Keys = regsuball(req.http.Surrogate-Key, "[^a-z0-9:_ -]", "");
        set req.http.X-Keys = regsuball(req.http.X-Keys, "^ +| +$", "");
        set req.http.X-Keys = regsuball(req.http.X-Keys, " +", "|");
        if (req.http.X-Keys == "") {
            return (synth(400, "BAN needs a Surrogate-Key header with the keys to drop."));
        }
        ban("obj.http.Surrogate-Key ~ (^|\s)(" + req.http.X-Keys + ")(\s|$)");
        return (synth(200, "Banned"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Live updates: streamed through, never cached.
    if (req.url ~ "^/api/v1/stream" || req.url ~ "^/[a-z0-9]+/(thread/[0-9]+|catalog)/events") {
        return (pass);
    }
    # Signed-in staff see moderation controls; a poster's next reads (ib_wrote, a few seconds)
    # go to the primary database: neither is served from or stored in the cache.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)(session|ib_wrote)=") {
        return (pass);
    }
    # The site answers Vary: Cookie; only the cookies a page depends on stay in the key.
    if (req.http.Cookie) {
        cookie.parse(req.http.Cookie);
        cookie.keep("lang,theme");
        set req.http.Cookie = cookie.get_string();
        if (req.http.Cookie == "") {
            unset req.http.Cookie;
        }
    }
    return (hash);
}

sub vcl_backend_response {
    if (beresp.http.Surrogate-Key && beresp.status == 200 && beresp.http.Cache-Control ~ "public"
        && beresp.http.Cache-Control !~ "no-cache|no-store|private" && !beresp.http.Set-Cookie) {
        set beresp.ttl = 10m;  # PAGE_TTL
        set beresp.grace = 30s;
        return (deliver);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    synthetic(resp.reason + {"
"});
    return (deliver);
}
