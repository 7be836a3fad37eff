#!/usr/bin/env bash
# demo.sh — set up (once) and run the redsink demo on 127.0.0.1:
#   Redis with the sample orders of zones/sample-orders.redis,
#   NSD serving zones/example.zone as the authoritative upstream,
#   Unbound with redsink.so (sinkhole address 127.0.0.1),
#   redsink-warnd, the warning page, on 127.0.0.1:DEMO_HTTP_PORT,
# then show a blocked and an unblocked answer with dig, and the warning page
# with curl. On a terminal it keeps running until you press Enter; otherwise
# (or with --once) it stops at once.
# Ports: DEMO_DNS_PORT (5300), DEMO_NSD_PORT (5301), DEMO_REDIS_PORT (6390),
# DEMO_HTTP_PORT (8080).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
once=no
[ "${1:-}" = "--once" ] && once=yes

scripts/deps.sh
scripts/build.sh

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

# ---- Redis with the sample list ----
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$d" \
	--logfile "$d/redis.log" &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
grep -v '^#' zones/sample-orders.redis | redis-cli -p "$redis_port" >/dev/null

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

# ---- Unbound with redsink ----
cat > "$d/redsink.conf" <<CONF
read-redis: 127.0.0.1:$redis_port
sinkhole-ipv4: 127.0.0.1
sinkhole-ipv6: ::1
resolver-name: demo
contact: mailto:blocking@isp.example
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
    dynlib-file: "$top/build/redsink/module/.libs/redsink.so"
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

# ---- the warning page ----
build/redsink/tools/warnd/redsink-warnd --listen "127.0.0.1:$http_port" --redis "127.0.0.1:$redis_port" \
	--templates "$top/tools/warnd/templates" 2>"$d/warnd.log" &
pids+=($!)
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

show() {
	echo "\$ dig -p $dns_port @127.0.0.1 $*"
	dig -p "$dns_port" @127.0.0.1 "$@" | sed -n '/HEADER/p;/EDE/p;/ANSWER SECTION/,/^$/p;/AUTHORITY SECTION/,/^$/p'
}
echo "== blocked (order demo-agcom-1, sinkhole):"
show www.pirate.example A
echo "== unblocked:"
show ok.example A
echo "== blocked (order demo-court-7, nxdomain), and its protected subdomain:"
show pirate2.example A
show good.pirate2.example A
echo "== the warning page a browser gets for www.pirate.example (it resolves to 127.0.0.1):"
echo "\$ curl -si -H 'Host: www.pirate.example' http://127.0.0.1:$http_port/"
page=$(curl -si -H 'Host: www.pirate.example' "http://127.0.0.1:$http_port/")
printf '%s\n' "$page" | sed -n '1p;/^Link:/p' | tr -d '\r'
printf '%s\n' "$page" | sed -n '/<h1/p;/Delibera/p' | sed 's/<[^>]*>//g; s/^ *//' | head -3
echo
echo "Resolver: 127.0.0.1 port $dns_port; warning page: http://127.0.0.1:$http_port/;"
echo "Redis: 127.0.0.1:$redis_port; logs in $d/"
if [ "$once" = no ] && [ -t 0 ]; then
	read -r -p "Press Enter to stop the demo. " _ || true
fi
