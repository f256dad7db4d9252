#!/usr/bin/env bash
# bench/run.sh [--quick]: Weft's sidecars against haproxy and nginx, the method of BENCH.md.
#
# Server side (backend nginx + every proxy) pinned to one core, load generators to the other.
# Scenarios, interleaved, medians of the repeats:
#   direct            wrk -> nginx backend
#   haproxy-1hop      wrk -> haproxy (server sidecar) -> backend
#   haproxy-chain     wrk -> haproxy (client sidecar) -> haproxy (server sidecar) -> backend
#   nginx-1hop / nginx-chain    the same with nginx as the proxy
#   weft-1hop         wrk -> weft proxy inbound port (server sidecar) -> backend
#   weft-chain        wrk -> weft proxy outbound port for `backend` (client sidecar) -> server sidecar -> backend
# Per scenario: peak rps (wrk -t1 -c32), latency at a fixed 1000 req/s over 10 connections
# (fixed-rate.lua), server-core CPU per request (/proc/stat), peak RSS of each proxy (VmHWM).
# Then RSS of each chain's proxies under 1000 keep-alive connections, and Weft's idle RSS.
# HTTP/2 (h2c, prior knowledge, every hop), their own backend and proxies, h2load instead of wrk:
#   h2-direct, h2-{haproxy,nginx,weft}-{1hop,chain}   GET / -> "ok", h2load -c32 -m10 and -c32 -m1
#   grpc-direct, grpc-{haproxy,nginx,weft}-chain      a unary gRPC call (POST, one empty message), -c32 -m10
# nginx's upstream is grpc_pass (h2c; nginx has no HTTP/2 proxy_pass). Per scenario: rps, server-core
# CPU per request, peak RSS; then RSS of each h2 chain's proxies under 1000 HTTP/2 connections.
#
# Output: a table on stdout and in bench/results/latest.md (+ latest.json, latest.csv, latest.h2.csv);
# --quick writes bench/results/quick.* instead (1 repeat, 3 s runs: a smoke test).
# Environment: BENCH_PORT_BASE (default 24180; 22 ports from there), BENCH_LOAD_CPU (0),
# BENCH_SERVER_CPU (1), BENCH_KEEP=1 keeps the work dir (configs, logs) after a successful run;
# BENCH_PROTOCOLS=h1|h2|all (default all; h2 includes gRPC) runs one protocol's scenarios only;
# for experiments: BENCH_SCENARIOS="direct weft-1hop h2-weft-chain ..." (a subset; each protocol's direct
# is always measured), BENCH_H2_STREAMS="10 1" (the h2load -m values of the h2 scenarios),
# BENCH_WEFT_ENV="DOTNET_X=1 ..." (extra environment for the weft proxies, overriding the defaults),
# BENCH_REPEATS=N (default 3: more repeats steady the medians on a noisy host).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
started_at=$(date +%s)

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

if ((quick)); then
  REPEATS=1 PEAK_S=3 LAT_S=3 LAT_WARM_MS=500 WARM_S=1 JIT_WARM_S=3 CONN_S=3 out_name=quick
else
  REPEATS=${BENCH_REPEATS:-3} PEAK_S=10 LAT_S=8 LAT_WARM_MS=1000 WARM_S=1 JIT_WARM_S=5 CONN_S=4 out_name=latest
fi
LOAD_CPU=${BENCH_LOAD_CPU:-0}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
BASE=${BENCH_PORT_BASE:-24180}
RATE=1000 LAT_CONNS=10 PEAK_CONNS=32 MANY_CONNS=1000
read -ra H2_STREAMS <<<"${BENCH_H2_STREAMS:-10 1}" # h2load -m (streams in flight per connection)
GRPC_STREAMS=10

die() { echo "bench: $*" >&2; exit 1; }
say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- prerequisites
(( $(nproc --all) >= 2 )) || die "needs 2 cores (load generator and server side each get one)"
for cpu in "$LOAD_CPU" "$SERVER_CPU"; do [[ -d /sys/devices/system/cpu/cpu$cpu ]] || die "no CPU $cpu"; done
[[ "$LOAD_CPU" != "$SERVER_CPU" ]] || die "BENCH_LOAD_CPU and BENCH_SERVER_CPU must differ"

need_pkgs=()
for pair in haproxy:haproxy nginx:nginx wrk:wrk h2load:nghttp2-client nghttp:nghttp2-client taskset:util-linux \
            setpriv:util-linux curl:curl python3:python3 clang:clang; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [[ " ${need_pkgs[*]} " == *" ${pair#*:} "* ]] || need_pkgs+=("${pair#*:}")
done
if ((${#need_pkgs[@]})); then
  say "installing ${need_pkgs[*]} (apt)"
  [[ $(id -u) == 0 ]] || die "missing ${need_pkgs[*]}: run as root or install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || die "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
fi
command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is not installed"

weft_dll="$root/.build/bin/Weft.Cli/release/weft.dll"
if [[ ! -f "$weft_dll" || -n "$(find "$root/src" "$root/proto" "$root/Directory.Build.props" "$root/Directory.Packages.props" \
      \( -name bin -o -name obj \) -prune -o -type f -newer "$weft_dll" -print -quit 2>/dev/null)" ]]; then
  say "building Weft (Release)"
  build_log=$(mktemp /tmp/weft-bench-build.XXXXXX)
  (cd "$root" && dotnet build src/Weft.Cli -c Release --nologo -v quiet) >"$build_log" 2>&1 \
    || { tail -30 "$build_log" >&2; die "build failed (log: $build_log)"; }
  rm -f "$build_log"
fi
# weft-proxy, the sidecar compiled ahead of time, which `weft proxy` execs (docs/proxy.md, "Native or
# JIT"); up to date in seconds when nothing changed. BENCH_WEFT_ENV=WEFT_PROXY_RUNTIME=jit measures the JIT build.
"$root/src/Weft.Proxy.Native/publish.sh" || die "publishing weft-proxy failed"

# Sockets: 1000+ connections per process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= 4096 )) || die "open-file limit $(ulimit -n) is too low for 1000 connections"

# Scenarios: HTTP/1.1 (wrk), HTTP/2 (h2load, GET) and gRPC (h2load, a unary call over HTTP/2).
H1_SCENARIOS=(direct haproxy-1hop haproxy-chain nginx-1hop nginx-chain weft-1hop weft-chain
              haproxy-mtls-chain nginx-mtls-chain weft-mtls-chain)
H2_SCENARIOS=(h2-direct h2-haproxy-1hop h2-haproxy-chain h2-nginx-1hop h2-nginx-chain h2-weft-1hop h2-weft-chain
              grpc-direct grpc-haproxy-chain grpc-nginx-chain grpc-weft-chain)
case "${BENCH_PROTOCOLS:-all}" in
  h1) ALL_SCENARIOS=("${H1_SCENARIOS[@]}") ;;
  h2) ALL_SCENARIOS=("${H2_SCENARIOS[@]}") ;;
  all) ALL_SCENARIOS=("${H1_SCENARIOS[@]}" "${H2_SCENARIOS[@]}") ;;
  *) die "BENCH_PROTOCOLS: ${BENCH_PROTOCOLS} is not one of h1, h2, all" ;;
esac
kind_of() { case $1 in h2-*) echo h2 ;; grpc-*) echo grpc ;; *) echo h1 ;; esac; } # SCENARIO
direct_of() { case $1 in h2-*) echo h2-direct ;; grpc-*) echo grpc-direct ;; *) echo direct ;; esac; }
# The subset asked for, in ALL_SCENARIOS's order, with the direct run of each protocol it touches.
declare -A WANTED=()
for s in ${BENCH_SCENARIOS:-${ALL_SCENARIOS[*]}}; do
  [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] \
    || die "BENCH_SCENARIOS: unknown scenario $s (with BENCH_PROTOCOLS=${BENCH_PROTOCOLS:-all}, one of ${ALL_SCENARIOS[*]})"
  WANTED[$s]=1 WANTED[$(direct_of "$s")]=1
done
SCENARIOS=()
for s in "${ALL_SCENARIOS[@]}"; do [[ -n "${WANTED[$s]:-}" ]] && SCENARIOS+=("$s"); done
RUN_H1=0 RUN_H2=0 # which sets of processes to start: HTTP/1.1's, HTTP/2's (which also serves gRPC)
for s in "${SCENARIOS[@]}"; do [[ $(kind_of "$s") == h1 ]] && RUN_H1=1 || RUN_H2=1; done
((${#H2_STREAMS[@]})) || die "BENCH_H2_STREAMS is empty"
for m in "${H2_STREAMS[@]}"; do [[ $m =~ ^[1-9][0-9]*$ ]] || die "BENCH_H2_STREAMS: $m is not a stream count"; done

# Ports (loopback only).
P_BACKEND=$BASE
P_HAP_SERVER=$((BASE + 1)) P_HAP_CLIENT=$((BASE + 2))
P_NGX_SERVER=$((BASE + 3)) P_NGX_CLIENT=$((BASE + 4))
P_H2_BACKEND=$((BASE + 5))
P_H2_HAP_SERVER=$((BASE + 6)) P_H2_HAP_CLIENT=$((BASE + 7))
P_H2_NGX_SERVER=$((BASE + 8)) P_H2_NGX_CLIENT=$((BASE + 9))
P_CTL_DISCOVERY=$((BASE + 10)) P_CTL_API=$((BASE + 11))
P_WEFT_SERVER_IN=$((BASE + 12)) P_WEFT_SERVER_ADMIN=$((BASE + 13))
P_WEFT_CLIENT_OUT=$((BASE + 14)) P_WEFT_CLIENT_IN=$((BASE + 15)) P_WEFT_CLIENT_ADMIN=$((BASE + 16))
P_WEFT_H2_SERVER_IN=$((BASE + 17)) P_WEFT_H2_SERVER_ADMIN=$((BASE + 18))
P_WEFT_H2_CLIENT_OUT=$((BASE + 19)) P_WEFT_H2_CLIENT_IN=$((BASE + 20)) P_WEFT_H2_CLIENT_ADMIN=$((BASE + 21))
P_HAP_MTLS_SERVER=$((BASE + 22)) P_HAP_MTLS_CLIENT=$((BASE + 23))
P_NGX_MTLS_SERVER=$((BASE + 24)) P_NGX_MTLS_CLIENT=$((BASE + 25))
P_WEFT_MTLS_SERVER_IN=$((BASE + 26)) P_WEFT_MTLS_SERVER_ADMIN=$((BASE + 27))
P_WEFT_MTLS_CLIENT_OUT=$((BASE + 28)) P_WEFT_MTLS_CLIENT_IN=$((BASE + 29)) P_WEFT_MTLS_CLIENT_ADMIN=$((BASE + 30))
ports=($P_CTL_DISCOVERY $P_CTL_API)
((RUN_H1)) && ports+=($P_BACKEND $P_HAP_SERVER $P_HAP_CLIENT $P_NGX_SERVER $P_NGX_CLIENT
                      $P_WEFT_SERVER_IN $P_WEFT_SERVER_ADMIN $P_WEFT_CLIENT_OUT $P_WEFT_CLIENT_IN $P_WEFT_CLIENT_ADMIN
                      $P_HAP_MTLS_SERVER $P_HAP_MTLS_CLIENT $P_NGX_MTLS_SERVER $P_NGX_MTLS_CLIENT $P_WEFT_MTLS_SERVER_IN
                      $P_WEFT_MTLS_SERVER_ADMIN $P_WEFT_MTLS_CLIENT_OUT $P_WEFT_MTLS_CLIENT_IN $P_WEFT_MTLS_CLIENT_ADMIN)
((RUN_H2)) && ports+=($P_H2_BACKEND $P_H2_HAP_SERVER $P_H2_HAP_CLIENT $P_H2_NGX_SERVER $P_H2_NGX_CLIENT
                      $P_WEFT_H2_SERVER_IN $P_WEFT_H2_SERVER_ADMIN $P_WEFT_H2_CLIENT_OUT $P_WEFT_H2_CLIENT_IN $P_WEFT_H2_CLIENT_ADMIN)
for p in "${ports[@]}"; do
  if [[ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]]; then
    die "port $p is in use ($(ss -Htlnp "sport = :$p" | head -1 | grep -o 'users:.*' || true)); set BENCH_PORT_BASE to a free range"
  fi
done

# ---------------------------------------------------------------- processes and cleanup
WORK=$(mktemp -d /tmp/weft-bench.XXXXXX)
declare -a PIDS=()
declare -A PID_OF=()
LOAD_PID=""
ok=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$LOAD_PID" ]] && kill -KILL "$LOAD_PID" 2>/dev/null || true
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((ok)) && [[ "${BENCH_KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
  else
    echo "bench: logs and configs kept in $WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# start NAME CPU CMD...: a background process pinned to CPU, killed by the kernel if we die.
start() {
  local name=$1 cpu=$2
  shift 2
  setpriv --pdeathsig KILL taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  PID_OF[$name]=$!
}

# wait_ok URL SECONDS NAME [CURL_OPTION...]: until URL answers 200 "ok".
wait_ok() {
  local url=$1 deadline=$(($(date +%s) + $2)) name=$3
  shift 3
  until [[ "$(curl -s --max-time 1 "$@" "$url" 2>/dev/null)" == ok ]]; do
    if (($(date +%s) > deadline)); then
      echo "--- $WORK/$name.log:" >&2; tail -20 "$WORK/$name.log" >&2 || true
      die "$name: $url did not answer \"ok\" within $2 s"
    fi
    kill -0 "${PID_OF[$name]}" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited"; }
    sleep 0.2
  done
}

# ---------------------------------------------------------------- configs
mkdir -p "$WORK/tmp"
nginx_head() { # NAME: what every nginx here starts with (one process, no logs, the http block opened)
  cat <<EOF
daemon off; master_process off; worker_processes 1;
pid $WORK/$1.pid; error_log $WORK/$1.err warn; worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  access_log off; keepalive_timeout 300s; keepalive_requests 1000000;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
EOF
}
nginx_conf() { # NAME LISTEN_PORT [UPSTREAM_PORT]: the backend (no upstream) or a proxy; HTTP/2 when NAME has h2
  local name=$1 listen=$2 up=${3:-}
  {
    nginx_head "$name"
    if [[ $name == *h2* ]]; then
      nginx_h2_server "$listen" "$up"
    elif [[ -z "$up" ]]; then
      echo "  server { listen 127.0.0.1:$listen backlog=4096; location / { return 200 \"ok\"; } }"
    else
      cat <<EOF
  upstream up { server 127.0.0.1:$up; keepalive 256; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:$listen backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
EOF
    fi
    echo "}"
  } >"$WORK/$name.conf"
}
# The HTTP/2 server block: h2c with prior knowledge (nginx 1.22: `listen ... http2` without ssl).
# The backend answers GET / with "ok" and GRPC_PATH as a gRPC server answers a unary call: it reads
# the whole request (mirror_request_body reads it before the content phase; nginx would otherwise
# answer at the request's HEADERS and reset the stream with NO_ERROR after its answer, which an nginx
# grpc_pass in front takes for a protocol error once it has reused the connection: "upstream sent frame
# for unknown stream"), then HEADERS (200, application/grpc), DATA with one empty message (5 bytes:
# not compressed, length 0; written as NUL bytes in the config) and the trailers, grpc-status 0.
# A proxy passes every request on with grpc_pass: nginx's HTTP/2 client (h2c, one stream per upstream
# connection), pooled (keepalive above the -c32 -m10 runs' 320 streams in flight, and their 1000).
nginx_h2_server() { # LISTEN_PORT [UPSTREAM_PORT]
  local listen=$1 up=${2:-}
  if [[ -z "$up" ]]; then
    mkdir -p "$WORK/empty"
    cat <<EOF
  open_file_cache max=16; open_file_cache_errors on; log_not_found off;
  server {
    listen 127.0.0.1:$listen http2 backlog=4096;
    location / { return 200 "ok"; }
    location = $GRPC_PATH { mirror /bench-mirror; root $WORK/empty; error_page 404 =200 @grpc; }
    location = /bench-mirror { internal; return 204; }
EOF
    printf '    location @grpc { default_type application/grpc; add_trailer grpc-status 0 always; return 200 "\0\0\0\0\0"; }\n'
    echo "  }"
  else
    cat <<EOF
  upstream up { server 127.0.0.1:$up; keepalive 2048; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:$listen http2 backlog=4096;
    location / { grpc_pass grpc://up; }
  }
EOF
  fi
}
haproxy_conf() { # NAME LISTEN_PORT UPSTREAM_PORT [h2]: h2 speaks HTTP/2 (h2c) to the client and the server
  local proto=""
  [[ ${4:-} == h2 ]] && proto=" proto h2"
  cat >"$WORK/$1.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend in
  bind 127.0.0.1:$2$proto backlog 4096
  default_backend up
backend up
  server s1 127.0.0.1:$3$proto
EOF
}
GRPC_PATH=/bench.Echo/Unary
nginx_conf backend "$P_BACKEND"
nginx_conf nginx-server "$P_NGX_SERVER" "$P_BACKEND"
nginx_conf nginx-client "$P_NGX_CLIENT" "$P_NGX_SERVER"
haproxy_conf haproxy-server "$P_HAP_SERVER" "$P_BACKEND"
haproxy_conf haproxy-client "$P_HAP_CLIENT" "$P_HAP_SERVER"
nginx_conf backend-h2 "$P_H2_BACKEND"
nginx_conf nginx-h2-server "$P_H2_NGX_SERVER" "$P_H2_BACKEND"
nginx_conf nginx-h2-client "$P_H2_NGX_CLIENT" "$P_H2_NGX_SERVER"
haproxy_conf haproxy-h2-server "$P_H2_HAP_SERVER" "$P_H2_BACKEND" h2
haproxy_conf haproxy-h2-client "$P_H2_HAP_CLIENT" "$P_H2_HAP_SERVER" h2

# The mTLS chains (BENCH.md): TLS 1.3, ECDSA P-256 leaves from a throw-away CA, the client sidecar's
# certificate required and verified by the server sidecar, upstream connections pooled as above.
# Weft's pair gets its certificates from its own control plane, as every sidecar does.
make_tls() {
  local d="$WORK/tls" who
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" \
    -subj "/CN=bench ca" -days 2 >/dev/null 2>&1 || die "openssl: no CA"
  for who in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$who.key" -out "$d/$who.csr" \
      -subj "/CN=$who.bench" >/dev/null 2>&1 || die "openssl: no $who key"
    printf 'subjectAltName=DNS:%s.bench\nextendedKeyUsage=serverAuth,clientAuth\n' "$who" >"$d/$who.ext"
    openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile "$d/$who.ext" -out "$d/$who.crt" >/dev/null 2>&1 || die "openssl: no $who certificate"
    cat "$d/$who.crt" "$d/$who.key" >"$d/$who.pem"
  done
}
haproxy_mtls_conf() { # NAME LISTEN_PORT UPSTREAM_PORT server|client: which end of the mTLS hop it is
  local t="$WORK/tls" bind="" server=""
  if [[ $4 == server ]]; then
    bind=" ssl crt $t/server.pem ca-file $t/ca.crt verify required ssl-min-ver TLSv1.3 alpn http/1.1"
  else
    server=" ssl crt $t/client.pem ca-file $t/ca.crt verify required ssl-min-ver TLSv1.3 sni str(server.bench) verifyhost server.bench alpn http/1.1"
  fi
  haproxy_conf "$1" "$2" "$3"
  sed -i "s|^  bind 127.0.0.1:$2 backlog 4096\$|  bind 127.0.0.1:$2$bind backlog 4096|; s|^  server s1 127.0.0.1:$3\$|  server s1 127.0.0.1:$3$server|" "$WORK/$1.cfg"
}
nginx_mtls_conf() { # NAME LISTEN_PORT UPSTREAM_PORT server|client
  local name=$1 listen=$2 up=$3 t="$WORK/tls"
  {
    nginx_head "$name"
    cat <<EOF
  upstream up { server 127.0.0.1:$up; keepalive 256; keepalive_requests 1000000; keepalive_timeout 300s; }
EOF
    if [[ $4 == server ]]; then
      cat <<EOF
  server {
    listen 127.0.0.1:$listen ssl backlog=4096;
    ssl_protocols TLSv1.3; ssl_certificate $t/server.crt; ssl_certificate_key $t/server.key;
    ssl_client_certificate $t/ca.crt; ssl_verify_client on;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
EOF
    else
      cat <<EOF
  server {
    listen 127.0.0.1:$listen backlog=4096;
    location / {
      proxy_pass https://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_protocols TLSv1.3; proxy_ssl_certificate $t/client.crt; proxy_ssl_certificate_key $t/client.key;
      proxy_ssl_trusted_certificate $t/ca.crt; proxy_ssl_verify on; proxy_ssl_name server.bench;
      proxy_ssl_server_name on; proxy_ssl_session_reuse on;
    }
  }
EOF
    fi
    echo "}"
  } >"$WORK/$name.conf"
}
if ((RUN_H1)); then
  make_tls
  haproxy_mtls_conf haproxy-mtls-server "$P_HAP_MTLS_SERVER" "$P_BACKEND" server
  haproxy_mtls_conf haproxy-mtls-client "$P_HAP_MTLS_CLIENT" "$P_HAP_MTLS_SERVER" client
  nginx_mtls_conf nginx-mtls-server "$P_NGX_MTLS_SERVER" "$P_BACKEND" server
  nginx_mtls_conf nginx-mtls-client "$P_NGX_MTLS_CLIENT" "$P_NGX_MTLS_SERVER" client
fi
# The gRPC request body: one length-prefixed message, empty (not compressed, length 0).
printf '\0\0\0\0\0' >"$WORK/grpc-request.bin"
# backend-h2's port is http2: the client sidecar speaks h2c to the server sidecar, which speaks h2c to
# its app because it runs with --app-protocol http2 (a grpc Service takes the same path: gRPC is told
# per request, by its content type).
# backend and backend-h2 are the plaintext chains (compared with haproxy's and nginx's plaintext ones):
# mTLS off for them (MeshConfig DISABLE, as a user turns it off). backend-mtls is the mTLS chain as
# weft up runs every service: STRICT, mTLS between the sidecars.
cat >"$WORK/backend-service.yaml" <<EOF
apiVersion: weft.dev/v1
kind: MeshConfig
metadata: { name: default }
spec:
  mtls:
    mode: PERMISSIVE
    overrides:
      - { service: backend, namespace: default, mode: DISABLE }
      - { service: backend-h2, namespace: default, mode: DISABLE }
      - { service: backend-mtls, namespace: default, mode: STRICT }
---
apiVersion: weft.dev/v1
kind: Service
metadata: { name: backend-mtls }
spec:
  selector: { app: backend-mtls }
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1
kind: Service
metadata: { name: backend }
spec:
  selector: { app: backend }
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1
kind: Service
metadata: { name: backend-h2 }
spec:
  selector: { app: backend-h2 }
  ports: [{ name: h2, port: 8080, protocol: http2 }]
EOF

# ---------------------------------------------------------------- measurement helpers
# Server core busy time in clock ticks (user+nice+system+irq+softirq+steal).
core_busy() { awk -v c="cpu$SERVER_CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# utime+stime (ticks) summed over pids.
proc_ticks() {
  local sum=0 pid rest f
  for pid in "$@"; do
    rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -ra f <<<"$rest" # f[0] is field 3 (state): utime and stime are fields 14 and 15
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; } # PID FIELD
pss_kb() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; } # PID
HZ=$(getconf CLK_TCK)

# run_wrk OUTFILE ARGS...: wrk on the load core, in the background so that signals reach our traps.
run_wrk() {
  local out=$1
  shift
  taskset -c "$LOAD_CPU" wrk "$@" >"$out" 2>&1 &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  ((rc == 0)) || { cat "$out" >&2; die "wrk $* failed (exit $rc)"; }
}

# run_h2load OUTFILE ARGS...: h2load on the load core, as run_wrk runs wrk.
run_h2load() {
  local out=$1
  shift
  taskset -c "$LOAD_CPU" h2load "$@" >"$out" 2>&1 &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  ((rc == 0)) && grep -q '^finished in' "$out" || { grep -v '^progress:' "$out" | tail -30 >&2; die "h2load $* failed (exit $rc)"; }
}
# h2load_args SCENARIO STREAMS CONNECTIONS: sets H2A, h2load's options (one thread, h2c with prior
# knowledge for an http:// URL); a gRPC scenario POSTs one empty message with gRPC's headers.
h2load_args() {
  H2A=(-t1 -c"$3" -m"$2")
  [[ $(kind_of "$1") == grpc ]] && H2A+=(-H 'content-type: application/grpc' -H 'te: trailers' -d "$WORK/grpc-request.bin")
  return 0
}

# Scenarios: name -> URL; name -> the proxy processes whose RSS belongs to it.
declare -A URL=(
  [direct]="http://127.0.0.1:$P_BACKEND/"
  [haproxy-1hop]="http://127.0.0.1:$P_HAP_SERVER/" [haproxy-chain]="http://127.0.0.1:$P_HAP_CLIENT/"
  [nginx-1hop]="http://127.0.0.1:$P_NGX_SERVER/" [nginx-chain]="http://127.0.0.1:$P_NGX_CLIENT/"
  [weft-1hop]="http://127.0.0.1:$P_WEFT_SERVER_IN/" [weft-chain]="http://127.0.0.1:$P_WEFT_CLIENT_OUT/"
  [haproxy-mtls-chain]="http://127.0.0.1:$P_HAP_MTLS_CLIENT/" [nginx-mtls-chain]="http://127.0.0.1:$P_NGX_MTLS_CLIENT/"
  [weft-mtls-chain]="http://127.0.0.1:$P_WEFT_MTLS_CLIENT_OUT/"
  [h2-direct]="http://127.0.0.1:$P_H2_BACKEND/"
  [h2-haproxy-1hop]="http://127.0.0.1:$P_H2_HAP_SERVER/" [h2-haproxy-chain]="http://127.0.0.1:$P_H2_HAP_CLIENT/"
  [h2-nginx-1hop]="http://127.0.0.1:$P_H2_NGX_SERVER/" [h2-nginx-chain]="http://127.0.0.1:$P_H2_NGX_CLIENT/"
  [h2-weft-1hop]="http://127.0.0.1:$P_WEFT_H2_SERVER_IN/" [h2-weft-chain]="http://127.0.0.1:$P_WEFT_H2_CLIENT_OUT/"
  [grpc-direct]="http://127.0.0.1:$P_H2_BACKEND$GRPC_PATH"
  [grpc-haproxy-chain]="http://127.0.0.1:$P_H2_HAP_CLIENT$GRPC_PATH"
  [grpc-nginx-chain]="http://127.0.0.1:$P_H2_NGX_CLIENT$GRPC_PATH"
  [grpc-weft-chain]="http://127.0.0.1:$P_WEFT_H2_CLIENT_OUT$GRPC_PATH"
)
declare -A PROXIES=(
  [direct]="" [haproxy-1hop]="haproxy-server" [haproxy-chain]="haproxy-client haproxy-server"
  [nginx-1hop]="nginx-server" [nginx-chain]="nginx-client nginx-server"
  [weft-1hop]="weft-server" [weft-chain]="weft-client weft-server"
  [haproxy-mtls-chain]="haproxy-mtls-client haproxy-mtls-server" [nginx-mtls-chain]="nginx-mtls-client nginx-mtls-server"
  [weft-mtls-chain]="weft-mtls-client weft-mtls-server"
  [h2-direct]="" [h2-haproxy-1hop]="haproxy-h2-server" [h2-haproxy-chain]="haproxy-h2-client haproxy-h2-server"
  [h2-nginx-1hop]="nginx-h2-server" [h2-nginx-chain]="nginx-h2-client nginx-h2-server"
  [h2-weft-1hop]="weft-h2-server" [h2-weft-chain]="weft-h2-client weft-h2-server"
  [grpc-direct]="" [grpc-haproxy-chain]="haproxy-h2-client haproxy-h2-server"
  [grpc-nginx-chain]="nginx-h2-client nginx-h2-server" [grpc-weft-chain]="weft-h2-client weft-h2-server"
)
H1_PROCS=(haproxy-server haproxy-client nginx-server nginx-client weft-server weft-client backend
          haproxy-mtls-server haproxy-mtls-client nginx-mtls-server nginx-mtls-client weft-mtls-server weft-mtls-client)
H2_PROCS=(haproxy-h2-server haproxy-h2-client nginx-h2-server nginx-h2-client weft-h2-server weft-h2-client backend-h2)
RUNS="$WORK/runs.jsonl"
: >"$RUNS"

# SCENARIO's server-side pids: the backend and that scenario's proxies (process CPU is summed over them).
server_pids() {
  local n backend=backend
  [[ $(kind_of "$1") == h1 ]] || backend=backend-h2
  for n in $backend ${PROXIES[$1]}; do echo "${PID_OF[$n]}"; done
}

# measure SCENARIO REPEAT: warm-up, peak run with CPU accounting, then the fixed-rate latency run.
measure() {
  local s=$1 r=$2 url=${URL[$1]} tag="$WORK/$1.r$2"
  run_wrk "$tag.warm" -t1 -c$PEAK_CONNS -d${WARM_S}s "$url"
  local pids b0 b1 p0 p1
  mapfile -t pids < <(server_pids "$s")
  b0=$(core_busy); p0=$(proc_ticks "${pids[@]}")
  run_wrk "$tag.peak" -t1 -c$PEAK_CONNS -d${PEAK_S}s --latency "$url"
  b1=$(core_busy); p1=$(proc_ticks "${pids[@]}")
  FR_RATE=$RATE FR_CONNS=$LAT_CONNS FR_WARM_MS=$LAT_WARM_MS FR_OUT="$tag.lat.json" \
    run_wrk "$tag.lat" -t$LAT_CONNS -c$LAT_CONNS -d$((LAT_S + LAT_WARM_MS / 1000))s --timeout 5s -s "$here/fixed-rate.lua" "$url"
  python3 - "$s" "$r" "$tag.peak" "$tag.lat.json" "$((b1 - b0))" "$((p1 - p0))" "$HZ" >>"$RUNS" <<'PY'
import json, re, sys
s, r, peak, lat, busy, proc, hz = sys.argv[1:]
text = open(peak).read()
m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
requests = int(m.group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
us_per_tick = 1e6 / int(hz)
d = {
    "scenario": s, "repeat": int(r), "rps": rps, "requests": requests,
    "non2xx": int(non2xx.group(1)) if non2xx else 0,
    "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    "core_busy_ticks": int(busy), "cpu_us_per_req": int(busy) * us_per_tick / max(requests, 1),
    "proc_cpu_us_per_req": int(proc) * us_per_tick / max(requests, 1),
    "latency": json.load(open(lat)),
}
print(json.dumps(d))
l = d["latency"]
note = ""
if d["non2xx"]: note += "  NON-2XX %d" % d["non2xx"]
if d["socket_errors"]: note += "  SOCKET ERRORS %d" % d["socket_errors"]
if l["non200"] or l["socket_errors"]: note += "  LATENCY RUN ERRORS %d/%d" % (l["non200"], l["socket_errors"])
import time
sys.stderr.write("[bench %s] %-14s r%d: %8.0f rps  cpu %5.1f us/req  p50 %5.0f  p99 %6.0f  p99.9 %6.0f us%s\n"
                 % (time.strftime("%H:%M:%S"), s, int(r), rps, d["cpu_us_per_req"], l["p50"], l["p99"], l["p999"], note))
PY
}

# measure_h2 SCENARIO STREAMS REPEAT: warm-up, then the peak run (h2load -c32 -mSTREAMS) with CPU accounting.
measure_h2() {
  local s=$1 m=$2 r=$3 url=${URL[$1]} tag="$WORK/$1.m$2.r$3"
  h2load_args "$s" "$m" "$PEAK_CONNS"
  run_h2load "$tag.warm" "${H2A[@]}" -D "$WARM_S" "$url"
  local pids b0 b1 p0 p1
  mapfile -t pids < <(server_pids "$s")
  b0=$(core_busy); p0=$(proc_ticks "${pids[@]}")
  run_h2load "$tag.peak" "${H2A[@]}" -D "$PEAK_S" "$url"
  b1=$(core_busy); p1=$(proc_ticks "${pids[@]}")
  python3 - "$s" "$(kind_of "$s")" "$m" "$PEAK_CONNS" "$r" "$tag.peak" "$((b1 - b0))" "$((p1 - p0))" "$HZ" >>"$RUNS" <<'PY'
import json, re, sys, time
s, kind, streams, conns, r, peak, busy, proc, hz = sys.argv[1:]
text = open(peak).read()
rps = float(re.search(r"^finished in [\d.]+m?s, ([\d.]+) req/s", text, re.M).group(1))
req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                r"(\d+) errored, (\d+) timeout", text, re.M)
total, started, done, succeeded, failed, errored, timeout = map(int, req.groups())
codes = dict(zip(["2xx", "3xx", "4xx", "5xx"],
                 map(int, re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M).groups())))
data = int(re.search(r"\((\d+)\) data", text).group(1))
# Each answer's body: "ok" (2 bytes), or one empty gRPC message (5). Every request that succeeded brought
# its body; requests still in flight when the run stopped may have brought theirs too (and an error's
# answer its own body: then only the lower bound holds).
body = 5 if kind == "grpc" else 2
in_flight = int(conns) * int(streams)
body_ok = body * succeeded <= data and (failed > 0 or data <= body * (done + in_flight))
us_per_tick = 1e6 / int(hz)
d = {
    "scenario": s, "protocol": kind, "streams": int(streams), "connections": int(conns), "repeat": int(r),
    "rps": rps, "requests": done, "succeeded": succeeded, "failed": failed, "errored": errored, "timeout": timeout,
    "status": codes, "non2xx": codes["3xx"] + codes["4xx"] + codes["5xx"], "data_bytes": data, "body_ok": body_ok,
    "core_busy_ticks": int(busy), "cpu_us_per_req": int(busy) * us_per_tick / max(done, 1),
    "proc_cpu_us_per_req": int(proc) * us_per_tick / max(done, 1),
}
print(json.dumps(d))
note = ""
if failed or timeout: note += "  FAILED %d (errored %d, timeout %d)" % (failed, errored, timeout)
if d["non2xx"]: note += "  NON-2XX %d" % d["non2xx"]
if not body_ok: note += "  BODY BYTES %d FOR %d ANSWERS (expected %d each)" % (data, done, body)
sys.stderr.write("[bench %s] %-18s -m%-2s r%d: %8.0f rps  cpu %5.1f us/req%s\n"
                 % (time.strftime("%H:%M:%S"), s, streams, int(r), rps, d["cpu_us_per_req"], note))
PY
}

# grpc_check SCENARIO: one unary call through it answers 200, one 5-byte message and grpc-status 0.
grpc_check() {
  local out="$WORK/$1.check"
  taskset -c "$LOAD_CPU" timeout 10 nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$WORK/grpc-request.bin" "${URL[$1]}" >"$out" 2>&1 || true
  grep -aq ':status: 200' "$out" && grep -aq 'recv DATA frame <length=5,' "$out" && grep -aq 'grpc-status: 0' "$out" \
    || { grep -a 'recv\|send' "$out" | tail -20 >&2; die "$1: ${URL[$1]} did not answer a unary gRPC call (200, one message, grpc-status 0)"; }
}

# background load on the server core with nothing of ours busy: the noise indicator.
idle_busy_pct() {
  local b0 b1; b0=$(core_busy); sleep 2; b1=$(core_busy)
  python3 -c "print(min(100.0, round(($b1 - $b0) * 100 / (2 * $HZ), 1)))"
}

# ---------------------------------------------------------------- start everything
say "work dir $WORK; $( ((quick)) && echo 'quick run: 1 repeat, 3 s' || echo "full run: $REPEATS repeats, ${PEAK_S} s peak, ${LAT_S} s latency")"
background_before=$(idle_busy_pct)
say "server core CPU $SERVER_CPU busy ${background_before}% before start (other users of the machine)"

if ((RUN_H1)); then
  start backend "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/backend.conf" -e "$WORK/backend.err"
  wait_ok "${URL[direct]}" 10 backend
  start haproxy-server "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-server.cfg"
  start haproxy-client "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-client.cfg"
  start nginx-server "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-server.conf" -e "$WORK/nginx-server.err"
  start nginx-client "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-client.conf" -e "$WORK/nginx-client.err"
  start haproxy-mtls-server "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-mtls-server.cfg"
  start haproxy-mtls-client "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-mtls-client.cfg"
  start nginx-mtls-server "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-mtls-server.conf" -e "$WORK/nginx-mtls-server.err"
  start nginx-mtls-client "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-mtls-client.conf" -e "$WORK/nginx-mtls-client.err"
fi
if ((RUN_H2)); then
  start backend-h2 "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/backend-h2.conf" -e "$WORK/backend-h2.err"
  wait_ok "${URL[h2-direct]}" 10 backend-h2 --http2-prior-knowledge
  start haproxy-h2-server "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-h2-server.cfg"
  start haproxy-h2-client "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-h2-client.cfg"
  start nginx-h2-server "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-h2-server.conf" -e "$WORK/nginx-h2-server.err"
  start nginx-h2-client "$SERVER_CPU" nginx -p "$WORK" -c "$WORK/nginx-h2-client.conf" -e "$WORK/nginx-h2-client.err"
fi

# Weft: control plane on the load core (it idles), the two sidecars on the server core. The sidecars
# run exactly as `weft up` and `weft proxy` start them: no setting of their own (BENCH.md, "Settings").
# BENCH_WEFT_ENV is for experiments only; a figure measured with it is not Weft's.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
weft_env=(env)
# shellcheck disable=SC2206 # word splitting wanted: VAR=VALUE pairs
weft_env+=(${BENCH_WEFT_ENV:-})
start weft-control "$LOAD_CPU" dotnet "$weft_dll" control --data-dir "$WORK/control" --listen 127.0.0.1 \
  --discovery-port "$P_CTL_DISCOVERY" --discovery-tls-port 0 --api-port "$P_CTL_API"
deadline=$(($(date +%s) + 60))
until curl -sf --max-time 1 "http://127.0.0.1:$P_CTL_API/ready" >/dev/null 2>&1; do
  (($(date +%s) < deadline)) && kill -0 "${PID_OF[weft-control]}" 2>/dev/null \
    || { tail -20 "$WORK/weft-control.log" >&2; die "weft control did not become ready"; }
  sleep 0.2
done
taskset -c "$LOAD_CPU" dotnet "$weft_dll" apply -f "$WORK/backend-service.yaml" --control "http://127.0.0.1:$P_CTL_API" \
  >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; die "weft apply failed"; }
discovery="http://127.0.0.1:$P_CTL_DISCOVERY"
token_file() { # SERVICE: a file holding a new bootstrap token for its service account (the control plane admits no proxy without one)
  taskset -c "$LOAD_CPU" dotnet "$weft_dll" token create "$1" --control "http://127.0.0.1:$P_CTL_API" 2>"$WORK/token.log" \
    | grep '^weft-bt-' >"$WORK/$1.token" || { cat "$WORK/token.log" >&2; die "weft token create $1 failed"; }
  echo "$WORK/$1.token"
}
if ((RUN_H1)); then
  start weft-server "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service backend --label app=backend \
    --instance backend-bench --app-port "$P_BACKEND" --inbound-port "$P_WEFT_SERVER_IN" \
    --admin-port "$P_WEFT_SERVER_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file backend)"
  start weft-client "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service client --label app=client \
    --instance client-bench --upstream "backend=$P_WEFT_CLIENT_OUT" --inbound-port "$P_WEFT_CLIENT_IN" \
    --admin-port "$P_WEFT_CLIENT_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file client)"
  # The mTLS pair: Service backend-mtls, STRICT; the sidecars get their certificates from the control plane.
  start weft-mtls-server "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service backend-mtls --label app=backend-mtls \
    --instance backend-mtls-bench --app-port "$P_BACKEND" --inbound-port "$P_WEFT_MTLS_SERVER_IN" \
    --admin-port "$P_WEFT_MTLS_SERVER_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file backend-mtls)"
  start weft-mtls-client "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service client-mtls --label app=client-mtls \
    --instance client-mtls-bench --upstream "backend-mtls=$P_WEFT_MTLS_CLIENT_OUT" --inbound-port "$P_WEFT_MTLS_CLIENT_IN" \
    --admin-port "$P_WEFT_MTLS_CLIENT_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file client-mtls)"
fi
if ((RUN_H2)); then
  # The HTTP/2 pair: Service backend-h2 (port protocol http2), its app spoken to over h2c.
  start weft-h2-server "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service backend-h2 --label app=backend-h2 \
    --instance backend-h2-bench --app-port "$P_H2_BACKEND" --app-protocol http2 --inbound-port "$P_WEFT_H2_SERVER_IN" \
    --admin-port "$P_WEFT_H2_SERVER_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file backend-h2)"
  start weft-h2-client "$SERVER_CPU" "${weft_env[@]}" dotnet "$weft_dll" proxy --service client-h2 --label app=client-h2 \
    --instance client-h2-bench --upstream "backend-h2=$P_WEFT_H2_CLIENT_OUT" --inbound-port "$P_WEFT_H2_CLIENT_IN" \
    --admin-port "$P_WEFT_H2_CLIENT_ADMIN" --control "$discovery" --drain-seconds 1 \
    --bootstrap-token-file "$(token_file client-h2)"
fi

for s in "${ALL_SCENARIOS[@]}"; do # every path through the processes started, measured or not
  first=${PROXIES[$s]%% *}
  if [[ $(kind_of "$s") == h1 ]]; then ((RUN_H1)) || continue; else ((RUN_H2)) || continue; fi
  case $(kind_of "$s") in
    h1) wait_ok "${URL[$s]}" 60 "${first:-backend}" ;;
    h2) wait_ok "${URL[$s]}" 60 "${first:-backend-h2}" --http2-prior-knowledge ;;
    grpc) grpc_check "$s" ;; # after h2's: the same processes, up by now
  esac
done
if ((RUN_H1)); then
  # The mTLS pair really speaks mTLS between its sidecars, and the plaintext pair does not.
  curl -s "http://127.0.0.1:$P_WEFT_MTLS_SERVER_ADMIN/stats/prometheus" | grep -q '^weft_mtls_connections_total{.*outcome="accepted"} [1-9]' \
    || die "weft-mtls-chain: the server sidecar accepted no mTLS connection"
  curl -s "http://127.0.0.1:$P_WEFT_SERVER_ADMIN/stats/prometheus" | grep -q 'outcome="accepted"' \
    && die "weft-chain: the plaintext pair spoke mTLS"
fi
checked=()
((RUN_H1)) && checked+=('"ok" over HTTP/1.1' 'weft-mtls-chain over mTLS')
((RUN_H2)) && checked+=('"ok" over h2c' 'a unary gRPC call: 200, one message, grpc-status 0')
say "all scenarios answer ($(printf '%s; ' "${checked[@]}" | sed 's/; $//'))"
# What the sidecars run as: weft-proxy (native) or dotnet (the JIT build).
weft_first=$( ((RUN_H1)) && echo weft-server || echo weft-h2-server )
weft_image=$(basename "$(readlink "/proc/${PID_OF[$weft_first]}/exe")")
say "weft sidecars run as: $weft_image"

# Weft's idle RSS, fresh: config applied, one request through each, nothing else.
sleep 2
idle_fresh_server=0 idle_fresh_client=0 idle_fresh_pss=0
if ((RUN_H1)); then
  idle_fresh_server=$(status_kb "${PID_OF[weft-server]}" VmRSS)
  idle_fresh_client=$(status_kb "${PID_OF[weft-client]}" VmRSS)
  idle_fresh_pss=$(( $(pss_kb "${PID_OF[weft-server]}") + $(pss_kb "${PID_OF[weft-client]}") ))
fi

# ---------------------------------------------------------------- warm-up (JIT, pools), then the runs
# A weft sidecar gets JIT_WARM_S one-second runs, each on new connections: tiered compilation
# promotes a method after it has run enough times, and code that runs once per connection (accept,
# protocol detection, connection setup) only gets there after a few hundred connections. One long run
# warms the request path but leaves that code to be compiled during the first measurements.
for s in "${SCENARIOS[@]}"; do
  case $(kind_of "$s") in
    h1)
      if [[ $s == weft-* ]]; then
        for ((k = 1; k <= JIT_WARM_S; k++)); do
          run_wrk "$WORK/$s.jitwarm$k" -t1 -c$PEAK_CONNS -d1s "${URL[$s]}"
        done
      else
        run_wrk "$WORK/$s.jitwarm" -t1 -c$PEAK_CONNS -d${WARM_S}s "${URL[$s]}"
      fi ;;
    *) # h2load makes new connections on every run, as the HTTP/1.1 warm-up does
      h2load_args "$s" "${H2_STREAMS[0]}" "$PEAK_CONNS"
      if [[ $s == *-weft-* ]]; then
        for ((k = 1; k <= JIT_WARM_S; k++)); do
          run_h2load "$WORK/$s.jitwarm$k" "${H2A[@]}" -D 1 "${URL[$s]}"
        done
      else
        run_h2load "$WORK/$s.jitwarm" "${H2A[@]}" -D "$WARM_S" "${URL[$s]}"
      fi ;;
  esac
done
sleep 2 # let tiered compilation finish what the warm-up queued, so it does not run during the first measurements
say "warmed up; measuring"

# What is measured: each HTTP/1.1 scenario once per repeat, each h2 scenario at every BENCH_H2_STREAMS,
# each gRPC scenario at GRPC_STREAMS (SCENARIO:STREAMS).
UNITS=()
for s in "${SCENARIOS[@]}"; do
  case $(kind_of "$s") in
    h1) UNITS+=("$s") ;;
    h2) for m in "${H2_STREAMS[@]}"; do UNITS+=("$s:$m"); done ;;
    grpc) UNITS+=("$s:$GRPC_STREAMS") ;;
  esac
done
n=${#UNITS[@]}
for ((r = 1; r <= REPEATS; r++)); do
  # Interleaved, and each repeat starts one scenario later, so drift in the machine's load spreads out.
  for ((i = 0; i < n; i++)); do
    u=${UNITS[(i + r - 1) % n]}
    if [[ $u == *:* ]]; then measure_h2 "${u%%:*}" "${u#*:}" "$r"; else measure "$u" "$r"; fi
  done
done

# Peak RSS of each proxy over the runs above (VmHWM), before the many-connections test.
declare -A HWM=()
started_procs=()
((RUN_H1)) && started_procs+=("${H1_PROCS[@]}")
((RUN_H2)) && started_procs+=("${H2_PROCS[@]}")
for name in "${started_procs[@]}"; do
  HWM[$name]=$(status_kb "${PID_OF[$name]}" VmHWM)
done

# RSS under 1000 keep-alive connections, each chain in turn (both of its proxies hold them).
declare -A MANY=() MANY_PSS=()
if ((RUN_H1)); then
  for s in haproxy-chain nginx-chain weft-chain; do
    taskset -c "$LOAD_CPU" wrk -t1 -c$MANY_CONNS -d$((CONN_S + 1))s --timeout 5s "${URL[$s]}" >"$WORK/$s.many" 2>&1 &
    LOAD_PID=$!
    sleep "$CONN_S"
    for name in ${PROXIES[$s]}; do
      MANY[$name]=$(status_kb "${PID_OF[$name]}" VmRSS)
      MANY_PSS[$name]=$(pss_kb "${PID_OF[$name]}")
    done
    wait "$LOAD_PID" || { cat "$WORK/$s.many" >&2; die "wrk -c$MANY_CONNS $s failed"; }
    LOAD_PID=""
  done
fi
# The same under 1000 HTTP/2 connections (h2load -c1000 -m1: one request in flight on each, as wrk's
# -c1000 has), each h2 chain in turn; the connections open to the chain's entry are counted when the
# RSS is read.
declare -A MANY_H2=() MANY_H2_PSS=() MANY_H2_OPEN=() MANY_H2_FAILED=()
if ((RUN_H2)); then
  for s in h2-haproxy-chain h2-nginx-chain h2-weft-chain; do
    h2load_args "$s" 1 "$MANY_CONNS"
    taskset -c "$LOAD_CPU" h2load "${H2A[@]}" -D $((CONN_S + 1)) "${URL[$s]}" >"$WORK/$s.many" 2>&1 &
    LOAD_PID=$!
    sleep "$CONN_S"
    port=${URL[$s]#http://127.0.0.1:} port=${port%%/*}
    MANY_H2_OPEN[$s]=$(ss -Htn state established "( dport = :$port )" | wc -l)
    for name in ${PROXIES[$s]}; do
      MANY_H2[$name]=$(status_kb "${PID_OF[$name]}" VmRSS)
      MANY_H2_PSS[$name]=$(pss_kb "${PID_OF[$name]}")
    done
    wait "$LOAD_PID" && grep -q '^finished in' "$WORK/$s.many" \
      || { grep -v '^progress:' "$WORK/$s.many" | tail -30 >&2; die "h2load -c$MANY_CONNS $s failed"; }
    LOAD_PID=""
    MANY_H2_FAILED[$s]=$(awk '$1 == "requests:" { print $10 }' "$WORK/$s.many")
    ((${MANY_H2_OPEN[$s]} >= MANY_CONNS)) || say "warning: $s held ${MANY_H2_OPEN[$s]} of $MANY_CONNS HTTP/2 connections when its RSS was read"
  done
fi
# Idle again: a weft sidecar gives surplus memory back after 10 s with no traffic (docs/proxy.md,
# "Memory after a burst"); measure once both have done so since the load, or after 30 s.
idle_after_server=0 idle_after_client=0
if ((RUN_H1)); then
  trims() { curl -s --max-time 2 "http://127.0.0.1:$1/stats/prometheus" | awk '$1 == "weft_memory_trims_total" { print $2 }'; }
  trims_server=$(trims "$P_WEFT_SERVER_ADMIN") trims_client=$(trims "$P_WEFT_CLIENT_ADMIN")
  deadline=$(($(date +%s) + 30))
  while (($(date +%s) < deadline)); do
    [[ "$(trims "$P_WEFT_SERVER_ADMIN")" != "$trims_server" && "$(trims "$P_WEFT_CLIENT_ADMIN")" != "$trims_client" ]] && break
    sleep 1
  done
  sleep 1
  idle_after_server=$(status_kb "${PID_OF[weft-server]}" VmRSS)
  idle_after_client=$(status_kb "${PID_OF[weft-client]}" VmRSS)
fi
background_after=$(idle_busy_pct)

# ---------------------------------------------------------------- report
weft_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
weft_dirty=$(git -C "$root" status --porcelain -- src 2>/dev/null | head -1)
python3 - >"$WORK/meta.json" <<PY
import json
print(json.dumps({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "quick": bool($quick), "repeats": $REPEATS,
  "peak_seconds": $PEAK_S, "latency_seconds": $LAT_S, "latency_rate": $RATE, "latency_connections": $LAT_CONNS,
  "peak_connections": $PEAK_CONNS, "many_connections": $MANY_CONNS,
  "protocols": {"h1": bool($RUN_H1), "h2": bool($RUN_H2)}, "h2_streams": [$(IFS=,; echo "${H2_STREAMS[*]}")],
  "grpc_streams": $GRPC_STREAMS, "h2load": "$(h2load --version 2>&1 | awk '{print $2}' | sed 's/^nghttp2\///')",
  "weft_commit": "$weft_rev" + ("+dirty" if "$weft_dirty" else ""),
  "weft_proxy_image": "$weft_image",
  "weft_extra_env": "${BENCH_WEFT_ENV:-}",
  "haproxy": "$(haproxy -v | head -1 | awk '{print $3}')", "nginx": "$(nginx -v 2>&1 | sed 's/.*nginx\///')",
  "wrk": "$(wrk -v 2>&1 | head -1 | awk '{print $2}')", "dotnet": "$(dotnet --version 2>/dev/null)",
  "cpu_model": "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)",
  "load_cpu": $LOAD_CPU, "server_cpu": $SERVER_CPU,
  "server_core_background_busy_pct": {"before": $background_before, "after": $background_after},
  "loadavg_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "peak_rss_kb": {$(for k in "${!HWM[@]}"; do printf '"%s": %s, ' "$k" "${HWM[$k]:-0}"; done | sed 's/, $//')},
  "pss_1000_conns_kb": {$(for k in "${!MANY_PSS[@]}"; do printf '"%s": %s, ' "$k" "${MANY_PSS[$k]:-0}"; done | sed 's/, $//')},
  "rss_1000_conns_kb": {$(for k in "${!MANY[@]}"; do printf '"%s": %s, ' "$k" "${MANY[$k]:-0}"; done | sed 's/, $//')},
  "rss_1000_h2_conns_kb": {$(for k in "${!MANY_H2[@]}"; do printf '"%s": %s, ' "$k" "${MANY_H2[$k]:-0}"; done | sed 's/, $//')},
  "pss_1000_h2_conns_kb": {$(for k in "${!MANY_H2_PSS[@]}"; do printf '"%s": %s, ' "$k" "${MANY_H2_PSS[$k]:-0}"; done | sed 's/, $//')},
  "open_1000_h2_conns": {$(for k in "${!MANY_H2_OPEN[@]}"; do printf '"%s": %s, ' "$k" "${MANY_H2_OPEN[$k]:-0}"; done | sed 's/, $//')},
  "failed_1000_h2_conns": {$(for k in "${!MANY_H2_FAILED[@]}"; do printf '"%s": %s, ' "$k" "${MANY_H2_FAILED[$k]:-0}"; done | sed 's/, $//')},
  "weft_idle_rss_kb": {"fresh": {"weft-server": $idle_fresh_server, "weft-client": $idle_fresh_client},
                       "after_load": {"weft-server": $idle_after_server, "weft-client": $idle_after_client},
                       "fresh_pss_both": $idle_fresh_pss} if $RUN_H1 else None,
  "elapsed_seconds": $(($(date +%s) - started_at)),
}))
PY
mkdir -p "$here/results"
python3 "$here/report.py" "$WORK/meta.json" "$RUNS" "$here/results/$out_name"
ok=1
say "done in $(($(date +%s) - started_at)) s; results in bench/results/$out_name.{md,json,csv}$( ((RUN_H2)) && echo " and $out_name.h2.csv")"
