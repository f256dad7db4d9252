#!/usr/bin/env bash
# Publishes weft-proxy (the proxy compiled ahead of time) beside weft.dll, where `weft proxy` finds
# it. Needs clang; without it this says so, removes any older weft-proxy (a stale binary would run
# old code) and exits 0: `weft proxy` then runs on .NET's JIT. WEFT_NATIVE_PROXY=0 skips it too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="$root/.build/bin/Weft.Cli/release"
stage="$root/.build/native"
if [[ ${WEFT_NATIVE_PROXY:-1} == 0 ]] || ! { command -v clang || command -v clang-14; } >/dev/null; then
  rm -f "$target/weft-proxy"
  [[ ${WEFT_NATIVE_PROXY:-1} == 0 ]] || echo "weft: clang is not installed: the proxy runs on .NET's JIT (apt-get install clang for weft-proxy, a third of the memory)" >&2
  exit 0
fi
rm -f "$target/weft-proxy"
dotnet publish "$root/src/Weft.Proxy.Native/Weft.Proxy.Native.csproj" -c Release --nologo -v quiet -clp:ErrorsOnly -o "$stage"
mkdir -p "$target"
install -m 755 "$stage/weft-proxy" "$target/weft-proxy"
