#!/usr/bin/env bash
# Installs what the tests need when missing, builds once (Release), runs every test project, and
# ends with one "N passed, N failed" line. Exits non-zero on any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

log() { echo "test.sh: $*"; }

# --- what the tests need -------------------------------------------------------------------------
apt_needed=()
command -v node >/dev/null || apt_needed+=(nodejs)
command -v npm >/dev/null || apt_needed+=(npm)
command -v curl >/dev/null || apt_needed+=(curl)
command -v openssl >/dev/null || apt_needed+=(openssl)
# nghttp (nghttp2's client) drives HTTP/2 through two sidecars in the data-plane tests.
command -v nghttp >/dev/null || apt_needed+=(nghttp2-client)
# The apps of the `weft up` stop and restart tests are Python http.servers (the system's python3).
[[ -x /usr/bin/python3 || -x /usr/local/bin/python3 ]] || apt_needed+=(python3)
# weft-proxy, the proxy compiled ahead of time, which the integration tests' sidecars run.
command -v clang >/dev/null || command -v clang-14 >/dev/null || apt_needed+=(clang)
# The transparent-interception test (root): network namespaces and iptables.
if [[ $(id -u) -eq 0 ]]; then
  command -v ip >/dev/null || [[ -x /usr/sbin/ip ]] || apt_needed+=(iproute2)
  command -v iptables-restore >/dev/null || [[ -x /usr/sbin/iptables-restore ]] || apt_needed+=(iptables)
fi
if ((${#apt_needed[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing ${apt_needed[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_needed[@]}" >/dev/null
  else
    log "missing ${apt_needed[*]} (not root: tests that need them will skip)"
  fi
fi
if [[ -f tests/interop/package.json && ! -d tests/interop/node_modules/@grpc/grpc-js ]] && command -v npm >/dev/null; then
  log "installing npm packages for the gRPC interop peer"
  (cd tests/interop && npm install --no-audit --no-fund --loglevel=error) || log "npm install failed: interop tests will skip"
fi

# --- build ---------------------------------------------------------------------------------------
log "building (Release)"
if ! dotnet build weft.sln -c Release --nologo -v quiet -clp:ErrorsOnly; then
  echo "0 passed, 1 failed"
  exit 1
fi
log "publishing weft-proxy (NativeAOT)"
if ! src/Weft.Proxy.Native/publish.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi
touch .build/weft.stamp  # ./weft reuses this build

# --- run -----------------------------------------------------------------------------------------
passed=0; failed=0; skipped=0; status=0
# The proxy's own tests run twice: over Weft's own socket transport (the default) and over .NET's
# sockets (WEFT_PROXY_TRANSPORT=sockets, what serves where the loop transport cannot).
runs=()
for proj in tests/*/*.csproj; do
  runs+=("$proj|")
  [[ $(basename "$proj" .csproj) == Weft.Proxy.Tests ]] && runs+=("$proj|sockets")
done
for run in "${runs[@]}"; do
  proj=${run%%|*}; transport=${run#*|}
  name=$(basename "$proj" .csproj)${transport:+ (WEFT_PROXY_TRANSPORT=$transport)}
  log "running $name"
  out=$(mktemp)
  WEFT_PROXY_TRANSPORT=${transport:-${WEFT_PROXY_TRANSPORT:-}} dotnet test "$proj" -c Release --no-build --nologo 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '(Passed|Failed)! +- Failed: ' "$out" | tail -n1)
  if [[ -z $line ]]; then
    log "$name: no test summary (exit $rc)"; failed=$((failed + 1)); status=1
  else
    f=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line")
    p=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$line")
    s=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    ((rc != 0 || f != 0)) && status=1
  fi
  rm -f "$out"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
