#!/usr/bin/env bash
# demo.sh — set up (once) and run the redsink demo on 127.0.0.1, in signed
# mode (doc/signing.md):
#   three Ed25519 keys made with redsink-ctl key generate (mode 0600): two
#     authorities' (AGCOM's and the High Court's), which sign their orders,
#     and the ISP's, which signs the protected set,
#   Redis with the sample orders of zones/sample-orders.redis, written and
#     signed by redsink-ctl (push, protect),
#   NSD serving zones/example.zone as the authoritative upstream,
#   Unbound with redsink.so (sinkhole address 127.0.0.1), require-signatures:
#     yes, trusting the two keys,
#   redsink-warnd, the warning page, on 127.0.0.1:DEMO_HTTP_PORT, trusting
#     them too,
# then show blocked answers naming who signed the order, an unblocked one, a
# name added behind the tool's back (not blocked), and the warning page with
# curl. On a terminal it keeps running until you press Enter; otherwise (or
# with --once) it stops at once, and it stops everything it started on any
# exit. Each run starts from scratch (.demo/ is recreated, new keys). A port
# in use, or a server that does not come up as its own, stops the demo.
# Ports: DEMO_DNS_PORT (5300), DEMO_NSD_PORT (5301), DEMO_REDIS_PORT (6390),
# DEMO_HTTP_PORT (8080). Build directory: DEMO_BUILD (build/redsink).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
once=no
[ "${1:-}" = "--once" ] && once=yes

scripts/deps.sh
build=${DEMO_BUILD:-build/redsink}
scripts/build.sh "$build"
ctl=("$top/$build/tools/ctl/redsink-ctl" --redis "127.0.0.1:${DEMO_REDIS_PORT:-6390}" --by demo)

dns_port=${DEMO_DNS_PORT:-5300}
nsd_port=${DEMO_NSD_PORT:-5301}
redis_port=${DEMO_REDIS_PORT:-6390}
http_port=${DEMO_HTTP_PORT:-8080}
d="$top/.demo"
rm -rf "$d"
mkdir -p "$d"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
die() {
	echo "demo: $*" >&2
	exit 1
}
# Something listens on TCP port $1 already (every server here listens on TCP)?
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for p in "$redis_port" "$nsd_port" "$dns_port" "$http_port"; do
	port_busy "$p" && die "port $p in use (set DEMO_REDIS_PORT, DEMO_NSD_PORT, DEMO_DNS_PORT, DEMO_HTTP_PORT)"
done
# The server just started ($1, pid $2, port $3) is still running: it bound its port.
alive() {
	kill -0 "$2" 2>/dev/null || die "$1 did not start: port $3 in use? (logs in $d/)"
}

# ---- Redis with the sample list ----
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$d" \
	--logfile "$d/redis.log" &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
alive Redis "${pids[-1]}" "$redis_port"
# ours, not another Redis on that port: its directory is .demo/
[ "$(redis-cli -p "$redis_port" config get dir 2>/dev/null | sed -n 2p)" = "$d" ] ||
	die "port $redis_port in use: the Redis there is not the demo's"

# ---- the keys, and the sample orders written and signed by redsink-ctl ----
# (zones/sample-orders.redis shows the same orders as raw redis-cli commands)
"${ctl[@]}" -q key generate --out "$d/agcom.key" --label AGCOM >/dev/null
"${ctl[@]}" -q key generate --out "$d/isp.key" --label ISP >/dev/null
agcom_pub=$("${ctl[@]}" key show "$d/agcom.key" --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
isp_pub=$("${ctl[@]}" key show "$d/isp.key" --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
"${ctl[@]}" -q key generate --out "$d/court.key" --label HighCourt >/dev/null
court_pub=$("${ctl[@]}" key show "$d/court.key" --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
agcom=("${ctl[@]}" -q --sign-key "$d/agcom.key")
court=("${ctl[@]}" -q --sign-key "$d/court.key")
"${agcom[@]}" order add demo-agcom-1 --authority "AGCOM (Autorita per le Garanzie nelle Comunicazioni)" \
	--reference "Delibera 123/26/CONS" --issued 2026-01-15 --scope '*' --action sinkhole \
	--reason "Unauthorised live streaming of sports events" --url https://orders.example.org/agcom/123-26 --lang en
printf 'pirate.example\ndname.example\n' | "${agcom[@]}" push demo-agcom-1 >/dev/null
"${court[@]}" order add demo-court-7 --authority "High Court of Justice" --reference HC-2026-000777 \
	--issued 2026-03-01 --scope '*' --action nxdomain --reason "Copyright infringement" \
	--url https://orders.example.org/hc/777 --lang en
printf 'pirate2.example\n' | "${court[@]}" push demo-court-7 >/dev/null
"${ctl[@]}" -q --sign-key "$d/isp.key" protect add good.pirate2.example --why "the ISP's own service" >/dev/null
printf 'trusted-key: AGCOM %s\ntrusted-key: HighCourt %s\nprotect-key: ISP %s\n' "$agcom_pub" "$court_pub" \
	"$isp_pub" > "$d/trusted.conf"

# ---- NSD: the authoritative upstream ----
cat > "$d/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$nsd_port
    port: $nsd_port
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$top/zones"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$d/nsd.log"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: "example."
    zonefile: "example.zone"
CONF
nsd -d -c "$d/nsd.conf" &
pids+=($!)
for _ in $(seq 50); do
	dig +time=1 +tries=1 -p "$nsd_port" @127.0.0.1 example SOA >/dev/null 2>&1 && break
	sleep 0.1
done
alive NSD "${pids[-1]}" "$nsd_port"

# ---- Unbound with redsink ----
cat > "$d/redsink.conf" <<CONF
read-redis: 127.0.0.1:$redis_port
sinkhole-ipv4: 127.0.0.1
sinkhole-ipv6: ::1
resolver-name: demo
contact: mailto:blocking@isp.example
require-signatures: yes
trusted-key: AGCOM $agcom_pub
trusted-key: HighCourt $court_pub
protect-key: ISP $isp_pub
txt-text: "{reference}, signed by {signer} (key {signer_key})"
CONF
cat > "$d/unbound.conf" <<CONF
server:
    interface: 127.0.0.1
    port: $dns_port
    outgoing-interface: 127.0.0.1
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: "$d/unbound.log"
    directory: "$d"
    chroot: ""
    username: ""
    pidfile: ""
    do-not-query-localhost: no
    module-config: "dynlib validator iterator"
dynlib:
    dynlib-file: "$top/$build/module/.libs/redsink.so"
stub-zone:
    name: "example."
    stub-addr: 127.0.0.1@$nsd_port
CONF
REDSINK_CONF="$d/redsink.conf" build/unbound/unbound -d -c "$d/unbound.conf" &
pids+=($!)
for _ in $(seq 100); do
	dig +time=1 +tries=1 -p "$dns_port" @127.0.0.1 ok.example A >/dev/null 2>&1 && break
	sleep 0.1
done
alive Unbound "${pids[-1]}" "$dns_port"

# ---- the warning page ----
"$build/tools/warnd/redsink-warnd" --listen "127.0.0.1:$http_port" --redis "127.0.0.1:$redis_port" \
	--templates "$top/tools/warnd/templates" --trusted "$d/trusted.conf" 2>"$d/warnd.log" &
pids+=($!)
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
alive redsink-warnd "${pids[-1]}" "$http_port"

show() {
	echo "\$ dig -p $dns_port @127.0.0.1 $*"
	dig -p "$dns_port" @127.0.0.1 "$@" | sed -n '/HEADER/p;/EDE/p;/ANSWER SECTION/,/^$/p;/AUTHORITY SECTION/,/^$/p'
}
echo "== blocked (order demo-agcom-1, sinkhole), and who signed it (TXT):"
show www.pirate.example A
show www.pirate.example TXT
echo "== unblocked:"
show ok.example A
echo "== blocked (order demo-court-7, nxdomain), and its protected subdomain:"
show pirate2.example A
show good.pirate2.example A
echo "== a name added with redis-cli behind the tool's back (no signature): not blocked"
echo "\$ redis-cli SADD redsink:order:demo-agcom-1:domains evil.wild.example (and its stream entry)"
printf 'MULTI\nSADD redsink:order:demo-agcom-1:domains evil.wild.example\nXADD redsink:changes * op add order demo-agcom-1 domain evil.wild.example by mallory\nEXEC\n' |
	redis-cli -p "$redis_port" >/dev/null
# a barrier: a signed change written after the tampering; once it is
# enforced, the resolver has read the tampering too
# (on the court's order: AGCOM's no longer matches its signed version, and
# redsink-ctl refuses to sign on top of it)
printf 'barrier.example\n' | "${court[@]}" push demo-court-7 >/dev/null
for i in $(seq 100); do
	dig +time=1 +tries=1 -p "$dns_port" @127.0.0.1 barrier.example A 2>/dev/null | grep -q Censored && break
	[ "$i" = 100 ] && die "the signed change after the tampering was not enforced within 10 s"
	sleep 0.1
done
show evil.wild.example A
echo "\$ redsink-ctl verify --trusted $d/trusted.conf"
"${ctl[@]}" verify --trusted "$d/trusted.conf" | sed -n '/demo-agcom-1/p' || true
echo "== the warning page a browser gets for www.pirate.example (it resolves to 127.0.0.1):"
echo "\$ curl -si -H 'Host: www.pirate.example' http://127.0.0.1:$http_port/"
page=$(curl -si -H 'Host: www.pirate.example' "http://127.0.0.1:$http_port/")
printf '%s\n' "$page" | sed -n '1p;/^Link:/p' | tr -d '\r'
printf '%s\n' "$page" | sed -n '/<h1/p;/Delibera/p;/Signed by/p' | sed 's/<[^>]*>/ /g; s/^ *//; s/  */ /g' | head -4
echo
echo "Resolver: 127.0.0.1 port $dns_port; warning page: http://127.0.0.1:$http_port/;"
echo "Redis: 127.0.0.1:$redis_port; logs in $d/"
if [ "$once" = no ] && [ -t 0 ]; then
	read -r -p "Press Enter to stop the demo. " _ || true
fi
