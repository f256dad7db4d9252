#!/usr/bin/env python3
"""Turns one bench run into the results tables and the target checks: issue 10's (HTTP/1.1) and
issue 11's (HTTP/2).

Usage: report.py META.json RUNS.jsonl OUT_PREFIX
Reads the run's metadata (written by run.sh) and one JSON line per measured run; writes
OUT_PREFIX.md (the tables, targets, settings), OUT_PREFIX.json (metadata, medians, every run),
OUT_PREFIX.csv (HTTP/1.1 medians) and OUT_PREFIX.h2.csv (HTTP/2 and gRPC medians, when they ran), and
prints the Markdown to stdout. Medians are taken per metric over the repeats of a scenario (of a
scenario and stream count for HTTP/2). Either protocol's part is left out when it did not run.
"""
import csv
import json
import statistics
import sys

ORDER = ["direct", "haproxy-1hop", "haproxy-chain", "nginx-1hop", "nginx-chain", "weft-1hop", "weft-chain",
         "haproxy-mtls-chain", "nginx-mtls-chain", "weft-mtls-chain"]
LABEL = {
    "direct": "direct",
    "haproxy-1hop": "haproxy, 1 hop",
    "haproxy-chain": "haproxy, sidecar -> sidecar",
    "nginx-1hop": "nginx, 1 hop",
    "nginx-chain": "nginx, sidecar -> sidecar",
    "weft-1hop": "weft, 1 hop",
    "weft-chain": "weft, sidecar -> sidecar (mTLS off: MeshConfig DISABLE)",
    "haproxy-mtls-chain": "haproxy, sidecar -> mTLS -> sidecar",
    "nginx-mtls-chain": "nginx, sidecar -> mTLS -> sidecar",
    "weft-mtls-chain": "weft, sidecar -> mTLS -> sidecar (default)",
}
NOISY_PCT = 10  # server core busy with other work (%), above which a run is marked noisy

PROXIES = {
    "haproxy-1hop": ["haproxy-server"], "haproxy-chain": ["haproxy-client", "haproxy-server"],
    "nginx-1hop": ["nginx-server"], "nginx-chain": ["nginx-client", "nginx-server"],
    "weft-1hop": ["weft-server"], "weft-chain": ["weft-client", "weft-server"],
    "haproxy-mtls-chain": ["haproxy-mtls-client", "haproxy-mtls-server"],
    "nginx-mtls-chain": ["nginx-mtls-client", "nginx-mtls-server"],
    "weft-mtls-chain": ["weft-mtls-client", "weft-mtls-server"],
}

# HTTP/2 (h2load): GET "ok" at each stream count, and a unary gRPC call.
H2_ORDER = ["h2-direct", "h2-haproxy-1hop", "h2-haproxy-chain", "h2-nginx-1hop", "h2-nginx-chain",
            "h2-weft-1hop", "h2-weft-chain"]
GRPC_ORDER = ["grpc-direct", "grpc-haproxy-chain", "grpc-nginx-chain", "grpc-weft-chain"]
H2_LABEL = {
    "h2-direct": "h2 direct",
    "h2-haproxy-1hop": "haproxy h2, 1 hop",
    "h2-haproxy-chain": "haproxy h2, sidecar -> sidecar",
    "h2-nginx-1hop": "nginx h2 (grpc_pass), 1 hop",
    "h2-nginx-chain": "nginx h2 (grpc_pass), sidecar -> sidecar",
    "h2-weft-1hop": "weft h2, 1 hop",
    "h2-weft-chain": "weft h2, sidecar -> sidecar",
    "grpc-direct": "gRPC unary, direct",
    "grpc-haproxy-chain": "haproxy gRPC, sidecar -> sidecar",
    "grpc-nginx-chain": "nginx gRPC (grpc_pass), sidecar -> sidecar",
    "grpc-weft-chain": "weft gRPC, sidecar -> sidecar",
}


def h2_proxies(s):
    """The proxy processes of an HTTP/2 or gRPC scenario (they share one set: haproxy-h2-server...)."""
    fam, _, shape = s.split("-", 1)[1].partition("-") if s.count("-") >= 2 else ("", "", "")
    if not fam:
        return []
    return [f"{fam}-h2-server"] if shape == "1hop" else [f"{fam}-h2-client", f"{fam}-h2-server"]


def fmt_int(x):
    return f"{x:,.0f}".replace(",", " ")


def mb(kb):
    return kb / 1024.0


def main():
    meta_path, runs_path, out = sys.argv[1:4]
    meta = json.load(open(meta_path))
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]
    h1_runs = [r for r in runs if r.get("protocol", "h1") == "h1"]
    h2_runs = [r for r in runs if r.get("protocol", "h1") != "h1"]

    # Other work on the server core while the bench idled (sampled before and after): a noisy run's
    # throughput, latency and core CPU are not the proxies' alone.
    bg = meta["server_core_background_busy_pct"]
    noisy = max(bg["before"], bg["after"]) > NOISY_PCT

    lines = []
    w = lines.append
    h1 = h1_report(meta, h1_runs, noisy, w) if h1_runs else None
    if not h1_runs:
        header(meta, noisy, w, h1=False)
    h2 = h2_report(meta, h2_runs, noisy, w) if h2_runs else None
    text = "\n".join(lines) + "\n"

    with open(out + ".md", "w") as f:
        f.write(text)
    result = {"meta": meta, "noisy": noisy}
    if h1:
        result.update(medians=h1["medians"], targets=h1["targets"])
    if h2:
        result["h2"] = {"medians": h2["medians"], "targets": h2["targets"]}
    result["runs"] = runs
    with open(out + ".json", "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
    if h1:
        write_h1_csv(out + ".csv", h1["medians"])
    if h2:
        write_h2_csv(out + ".h2.csv", h2["medians"])
    sys.stdout.write(text)


def header(meta, noisy, w, h1):
    """The run's settings and the machine's state; h1: the run has the HTTP/1.1 scenarios."""
    bg = meta["server_core_background_busy_pct"]
    if h1:
        w(f"Run {meta['date']}{' (--quick: 1 repeat, 3 s; a smoke test, not a result)' if meta['quick'] else ''}: "
          f"medians of {meta['repeats']}, peak `wrk -t1 -c{meta['peak_connections']} -d{meta['peak_seconds']}s`, "
          f"latency at {meta['latency_rate']} req/s over {meta['latency_connections']} connections for "
          f"{meta['latency_seconds']} s. Weft {meta['weft_commit']} ({meta.get('weft_proxy_image', '?')}), haproxy {meta['haproxy']}, nginx {meta['nginx']}, "
          f"wrk {meta['wrk']}, .NET SDK {meta['dotnet']}; {meta['cpu_model']}.")
    else:
        w(f"Run {meta['date']}{' (--quick: 1 repeat, 3 s; a smoke test, not a result)' if meta['quick'] else ''}: "
          f"HTTP/2 only, medians of {meta['repeats']}, peak `h2load -t1 -c{meta['peak_connections']} -D{meta['peak_seconds']}`. "
          f"Weft {meta['weft_commit']} ({meta.get('weft_proxy_image', '?')}), haproxy {meta['haproxy']}, nginx {meta['nginx']}, "
          f"h2load {meta.get('h2load', '?')}, .NET SDK {meta['dotnet']}; {meta['cpu_model']}.")
    w(f"Server core (CPU {meta['server_cpu']}) busy with other work while the bench idled: {bg['before']}% before, "
      f"{bg['after']}% after; load average at the end {meta['loadavg_end']}.")
    if meta.get("weft_extra_env"):
        w("")
        w(f"**Not Weft's defaults**: the weft sidecars ran with BENCH_WEFT_ENV=`{meta['weft_extra_env']}`; "
          "these figures are an experiment and are not quoted as Weft's.")
    if noisy:
        w("")
        w(f"**Noisy run**: the server core was more than {NOISY_PCT}% busy with other work, so throughput, latency "
          "and core CPU include other processes' work; the CPU target is judged on process CPU instead, and "
          "timing results are marked. Re-run on a quiet machine.")


def h1_report(meta, runs, noisy, w):
    """The HTTP/1.1 table, the 1000-connection and idle memory, and issue 10's targets."""
    by = {s: [r for r in runs if r["scenario"] == s] for s in ORDER}
    med = {}
    for s, rs in by.items():
        if not rs:
            continue
        m = lambda f: statistics.median(f(r) for r in rs)  # noqa: E731
        med[s] = {
            "runs": len(rs),
            "rps": m(lambda r: r["rps"]),
            "cpu_us_per_req": m(lambda r: r["cpu_us_per_req"]),
            "proc_cpu_us_per_req": m(lambda r: r["proc_cpu_us_per_req"]),
            "p50": m(lambda r: r["latency"]["p50"]),
            "p90": m(lambda r: r["latency"]["p90"]),
            "p99": m(lambda r: r["latency"]["p99"]),
            "p999": m(lambda r: r["latency"]["p999"]),
            "late_sends": sum(r["latency"]["late"] for r in rs),
            "latency_samples": sum(r["latency"]["count"] for r in rs),
            "errors": sum(r["non2xx"] + r["socket_errors"] + r["latency"]["non200"] + r["latency"]["socket_errors"] for r in rs),
        }
    d = med["direct"]
    for s, x in med.items():
        x["ratio_direct"] = x["rps"] / d["rps"]
        x["added_p99"] = x["p99"] - d["p99"]
        x["added_cpu"] = x["cpu_us_per_req"] - d["cpu_us_per_req"]
        x["added_proc_cpu"] = x["proc_cpu_us_per_req"] - d["proc_cpu_us_per_req"]
        shape = s.split("-", 1)[1] if "-" in s else None
        peer = f"haproxy-{shape}" if shape else None
        x["ratio_haproxy"] = x["rps"] / med[peer]["rps"] if peer in med else None
        procs = PROXIES.get(s, [])
        x["peak_rss_mb"] = [mb(meta["peak_rss_kb"].get(p, 0)) for p in procs]

    header(meta, noisy, w, h1=True)
    w("")
    w("| scenario | peak rps | ratio to direct | ratio to haproxy same shape | p50 µs | p90 µs | p99 µs | p99.9 µs @1000 rps "
      "| added p99 vs direct µs | server CPU µs/req | added CPU µs/req | process CPU µs/req | peak RSS MB |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in ORDER:
        if s not in med:
            continue
        x = med[s]
        name = LABEL[s] + (f" **({x['errors']} errors)**" if x["errors"] else "")
        rh = f"{x['ratio_haproxy']:.2f}" if x["ratio_haproxy"] is not None else "-"
        rss = " + ".join(f"{v:.1f}" for v in x["peak_rss_mb"]) or "-"
        w(f"| {name} | {fmt_int(x['rps'])} | {x['ratio_direct']:.2f} | {rh} | {x['p50']:.0f} | {x['p90']:.0f} | "
          f"{x['p99']:.0f} | {x['p999']:.0f} | {x['added_p99']:+.0f} | {x['cpu_us_per_req']:.1f} | "
          f"{x['added_cpu']:+.1f} | {x['proc_cpu_us_per_req']:.1f} | {rss} |")
    w("")
    w("Server CPU: busy time of the server core (/proc/stat) during the peak run / requests; added: minus direct's. "
      "Process CPU: utime+stime of the backend and the scenario's proxies, less sensitive to other work on "
      "the core. Peak RSS: VmHWM of each proxy process (client + server for a chain) over the runs. "
      "Latency is corrected for coordinated omission (fixed-rate.lua).")
    late = sum(x["late_sends"] for x in med.values())
    samples = sum(x["latency_samples"] for x in med.values())
    w(f"Requests sent late because the previous response on their connection came after their slot "
      f"(timed from the slot): {late} of {samples}.")
    w("")

    many = meta["rss_1000_conns_kb"]
    w(f"RSS under {meta['many_connections']} keep-alive connections (`wrk -c{meta['many_connections']}` through each chain), MB:")
    w("")
    pss = meta.get("pss_1000_conns_kb", {})
    w("| proxy | client sidecar RSS | server sidecar RSS | client PSS | server PSS |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for fam in ["haproxy", "nginx", "weft"]:
        w(f"| {fam} | {mb(many.get(fam + '-client', 0)):.1f} | {mb(many.get(fam + '-server', 0)):.1f} | "
          f"{mb(pss.get(fam + '-client', 0)):.1f} | {mb(pss.get(fam + '-server', 0)):.1f} |")
    w("")
    w("PSS counts shared pages (libraries, the .NET runtime and framework files) divided among the processes "
      "mapping them: closer to what one more sidecar costs a node than RSS.")
    idle = meta["weft_idle_rss_kb"]
    w("")
    w(f"Weft idle RSS, MB: fresh (config applied, one request) client {mb(idle['fresh']['weft-client']):.1f}, "
      f"server {mb(idle['fresh']['weft-server']):.1f}; idle again after all the load client "
      f"{mb(idle['after_load']['weft-client']):.1f}, server {mb(idle['after_load']['weft-server']):.1f}. "
      f"PSS of the two fresh sidecars together: {mb(idle.get('fresh_pss_both', 0)):.1f}.")
    w("")

    # Issue 10's targets (Weft with the settings weft up uses by default).
    targets = []

    def target(name, ok, detail, timing=True):
        targets.append({"target": name, "pass": None if ok is None else bool(ok), "detail": detail,
                        "noisy": noisy and timing})

    hc, h1, wc, w1 = (med.get(k) for k in ["haproxy-chain", "haproxy-1hop", "weft-chain", "weft-1hop"])
    if hc and wc:
        target("weft chain peak >= 1.1x haproxy chain", wc["rps"] >= 1.1 * hc["rps"],
               f"{fmt_int(wc['rps'])} vs {fmt_int(hc['rps'])} rps = {wc['rps'] / hc['rps']:.2f}x")
    if h1 and w1:
        target("weft 1 hop peak >= 1.15x haproxy 1 hop", w1["rps"] >= 1.15 * h1["rps"],
               f"{fmt_int(w1['rps'])} vs {fmt_int(h1['rps'])} rps = {w1['rps'] / h1['rps']:.2f}x")
    if hc and wc:
        target("weft chain added p99 <= haproxy chain added p99", wc["added_p99"] <= hc["added_p99"],
               f"{wc['added_p99']:+.0f} vs {hc['added_p99']:+.0f} µs")
    for shape, wx, hx in [("1 hop", w1, h1), ("chain", wc, hc)]:
        if wx and hx:
            core = (f"core {wx['added_cpu']:.1f} vs {hx['added_cpu']:.1f}"
                    + (f" = {wx['added_cpu'] / hx['added_cpu']:.2f}x" if hx["added_cpu"] > 0 else ""))
            proc = (f"process {wx['added_proc_cpu']:.1f} vs {hx['added_proc_cpu']:.1f}"
                    + (f" = {wx['added_proc_cpu'] / hx['added_proc_cpu']:.2f}x" if hx["added_proc_cpu"] > 0 else ""))
            name = f"weft server CPU/req <= haproxy's ({shape}, added over direct)"
            key, basis = ("added_proc_cpu", "process CPU (noisy run)") if noisy else ("added_cpu", "core CPU")
            detail = f"judged on {basis}: {core}; {proc} µs/req"
            target(name, None if hx[key] <= 0 else wx[key] <= hx[key], detail, timing=False)
    many_weft = max(many.get("weft-client", 0), many.get("weft-server", 0))
    target(f"weft sidecar RSS under {meta['many_connections']} keep-alive conns < 60 MB", 0 < many_weft < 60 * 1024,
           f"{mb(many_weft):.1f} MB (the larger sidecar)", timing=False)
    idle_weft = max(list(idle["fresh"].values()) + list(idle["after_load"].values()))
    target("weft sidecar idle RSS < 40 MB", 0 < idle_weft < 40 * 1024,
           f"{mb(idle_weft):.1f} MB (the larger sidecar, fresh or idle after load)", timing=False)
    w("Issue 10 targets:")
    w("")
    write_targets(w, targets)

    # Issue 12's: the mTLS chain, Weft as weft up runs it (mTLS between sidecars is its default).
    mtls = []
    hm, wm = med.get("haproxy-mtls-chain"), med.get("weft-mtls-chain")
    if hm and wm:
        mtls.append({"target": "weft mTLS chain peak >= 1.0x haproxy mTLS chain", "pass": wm["rps"] >= hm["rps"],
                     "detail": f"{fmt_int(wm['rps'])} vs {fmt_int(hm['rps'])} rps = {wm['rps'] / hm['rps']:.2f}x", "noisy": noisy})
        key, basis = ("added_proc_cpu", "process CPU (noisy run)") if noisy else ("added_cpu", "core CPU")
        mtls.append({"target": "weft mTLS chain added CPU/req <= haproxy's", "pass": None if hm[key] <= 0 else wm[key] <= hm[key],
                     "detail": f"judged on {basis}: core {wm['added_cpu']:.1f} vs {hm['added_cpu']:.1f}; "
                               f"process {wm['added_proc_cpu']:.1f} vs {hm['added_proc_cpu']:.1f} µs/req", "noisy": False})
        mtls.append({"target": "weft mTLS chain p99 @1000 rps <= haproxy's", "pass": wm["p99"] <= hm["p99"],
                     "detail": f"{wm['p99']:.0f} vs {hm['p99']:.0f} µs (added over direct {wm['added_p99']:+.0f} vs {hm['added_p99']:+.0f})",
                     "noisy": noisy})
        w("")
        w("Issue 12 targets (mTLS chain):")
        w("")
        write_targets(w, mtls)
    return {"medians": med, "targets": targets + mtls}


def write_targets(w, targets):
    w("| target | result | measured |")
    w("| --- | --- | --- |")
    for t in targets:
        result = "n/a" if t["pass"] is None else "PASS" if t["pass"] else "FAIL"
        if t["noisy"]:
            result += " (noisy run: unreliable)"
        w(f"| {t['target']} | {result} | {t['detail']} |")


def write_h1_csv(path, med):
    with open(path, "w", newline="") as f:
        cols = ["scenario", "runs", "rps", "ratio_direct", "ratio_haproxy", "p50", "p90", "p99", "p999", "added_p99",
                "cpu_us_per_req", "added_cpu", "proc_cpu_us_per_req", "added_proc_cpu", "late_sends", "errors"]
        wr = csv.writer(f)
        wr.writerow(cols + ["peak_rss_mb"])
        for s in ORDER:
            if s in med:
                x = med[s]
                wr.writerow([s] + [("" if x.get(c) is None else round(x[c], 2) if isinstance(x[c], float) else x[c])
                                   for c in cols[1:]] + [" + ".join(f"{v:.1f}" for v in x["peak_rss_mb"])])


def ratio(a, b):
    return a / b if b and b > 0 else None


def h2_report(meta, runs, noisy, w):
    """The HTTP/2 and gRPC table (a row per scenario and stream count), RSS under 1000 HTTP/2 connections,
    and issue 11's targets."""
    keys = sorted({(r["scenario"], r["streams"]) for r in runs},
                  key=lambda k: ((H2_ORDER + GRPC_ORDER).index(k[0]) >= len(H2_ORDER), -k[1],
                                 (H2_ORDER + GRPC_ORDER).index(k[0])))
    med = {}
    for s, m in keys:
        rs = [r for r in runs if r["scenario"] == s and r["streams"] == m]
        mid = lambda f: statistics.median(f(r) for r in rs)  # noqa: E731
        med[f"{s}@m{m}"] = {
            "scenario": s, "streams": m, "protocol": rs[0]["protocol"], "runs": len(rs),
            "rps": mid(lambda r: r["rps"]),
            "cpu_us_per_req": mid(lambda r: r["cpu_us_per_req"]),
            "proc_cpu_us_per_req": mid(lambda r: r["proc_cpu_us_per_req"]),
            "errors": sum(r["failed"] + r["status"]["3xx"] for r in rs),
            "body_ok": all(r["body_ok"] for r in rs),
            "peak_rss_mb": [mb(meta["peak_rss_kb"].get(p, 0)) for p in h2_proxies(s)],
        }
    for key, x in med.items():
        s, m = x["scenario"], x["streams"]
        kind, rest = s.split("-", 1)
        d = med.get(f"{kind}-direct@m{m}")
        x["ratio_direct"] = x["rps"] / d["rps"] if d else None
        x["added_cpu"] = x["cpu_us_per_req"] - d["cpu_us_per_req"] if d else None
        x["added_proc_cpu"] = x["proc_cpu_us_per_req"] - d["proc_cpu_us_per_req"] if d else None
        shape = rest.split("-", 1)[1] if "-" in rest else None
        peer = med.get(f"{kind}-haproxy-{shape}@m{m}") if shape else None
        x["ratio_haproxy"] = x["rps"] / peer["rps"] if peer else None
        x["added_cpu_ratio_haproxy"] = ratio(x["added_cpu"], peer["added_cpu"]) if peer and d else None
        x["added_proc_cpu_ratio_haproxy"] = ratio(x["added_proc_cpu"], peer["added_proc_cpu"]) if peer and d else None

    streams = sorted({m for _, m in keys if _.startswith("h2-")}, reverse=True)
    w("")
    w("### HTTP/2 and gRPC")
    w("")
    w(f"Medians of {meta['repeats']}, peak `h2load -t1 -c{meta['peak_connections']} -m<streams> -D {meta['peak_seconds']}` "
      f"(h2load {meta.get('h2load', '?')}) after a 1 s warm-up; h2c with prior knowledge on "
      "every hop; backend: nginx, `listen ... http2`, GET / answers `ok`, the gRPC path answers a unary call "
      "(one empty message, `grpc-status: 0`) after reading the request. gRPC: POST of one empty message with "
      f"`content-type: application/grpc` and `te: trailers`, -m{meta.get('grpc_streams', 10)}.")
    w("")
    w("| scenario | h2load | peak rps | ratio to direct | ratio to haproxy same shape | server CPU µs/req "
      "| added CPU µs/req | added CPU vs haproxy same shape | process CPU µs/req | peak RSS MB |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, x in med.items():
        name = H2_LABEL[x["scenario"]] + (f" **({x['errors']} errors)**" if x["errors"] else "") \
            + ("" if x["body_ok"] else " **(answers without their body)**")
        f2 = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
        rss = " + ".join(f"{v:.1f}" for v in x["peak_rss_mb"]) or "-"
        w(f"| {name} | -c{meta['peak_connections']} -m{x['streams']} | {fmt_int(x['rps'])} | {f2(x['ratio_direct'], '.2f')} | "
          f"{f2(x['ratio_haproxy'], '.2f')} | {x['cpu_us_per_req']:.1f} | {f2(x['added_cpu'], '+.1f')} | "
          f"{f2(x['added_cpu_ratio_haproxy'], '.2f')} | {x['proc_cpu_us_per_req']:.1f} | {rss} |")
    w("")
    w("h2load's `req/s`; CPU as for HTTP/1.1, per request done (added: minus the direct run's at the same stream "
      "count, gRPC's minus gRPC direct's); added CPU vs haproxy: the row's added CPU over haproxy's of the same "
      "shape. Peak RSS: VmHWM of each proxy over all the HTTP/2 and gRPC runs, which share the processes. "
      "Errors: requests h2load counted as failed (no response, a reset, a status >= 400) and 3xx. Every "
      "answer's body is counted (2 bytes for `ok`, 5 for the gRPC message): a run whose answers came without "
      "them is marked. nginx cannot proxy_pass over HTTP/2: its proxies forward with grpc_pass (h2c, one "
      "stream per upstream connection, so 320 upstream connections at -m10), the HTTP/2 client it has; haproxy "
      "speaks h2 on both sides (`proto h2`, `http-reuse always`); Weft's Service `backend-h2` declares port "
      "protocol `http2` and its server sidecar runs with `--app-protocol http2`.")
    w("")

    many = meta.get("rss_1000_h2_conns_kb", {})
    pss = meta.get("pss_1000_h2_conns_kb", {})
    opened = meta.get("open_1000_h2_conns", {})
    failed = meta.get("failed_1000_h2_conns", {})
    w(f"RSS under {meta['many_connections']} HTTP/2 connections (`h2load -c{meta['many_connections']} -m1` through each "
      "chain, read after the connections are up), MB:")
    w("")
    w("| proxy | client sidecar RSS | server sidecar RSS | client PSS | server PSS | connections open to the chain | failed requests |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fam in ["haproxy", "nginx", "weft"]:
        s = f"h2-{fam}-chain"
        w(f"| {fam} | {mb(many.get(fam + '-h2-client', 0)):.1f} | {mb(many.get(fam + '-h2-server', 0)):.1f} | "
          f"{mb(pss.get(fam + '-h2-client', 0)):.1f} | {mb(pss.get(fam + '-h2-server', 0)):.1f} | "
          f"{opened.get(s, 0)} | {failed.get(s, 0)} |")
    w("")

    targets = []

    def target(name, ok, detail, timing=True):
        targets.append({"target": name, "pass": None if ok is None else bool(ok), "detail": detail,
                        "noisy": noisy and timing})

    for m in streams:
        hc, h1, wc, w1 = (med.get(f"h2-{k}@m{m}") for k in ["haproxy-chain", "haproxy-1hop", "weft-chain", "weft-1hop"])
        if hc and wc:
            target(f"weft h2 chain peak >= 1.0x haproxy h2 chain (-m{m})", wc["rps"] >= hc["rps"],
                   f"{fmt_int(wc['rps'])} vs {fmt_int(hc['rps'])} rps = {wc['rps'] / hc['rps']:.2f}x")
            if wc["added_cpu"] is not None:
                key, basis = ("added_proc_cpu", "process CPU (noisy run)") if noisy else ("added_cpu", "core CPU")
                r_core, r_proc = wc["added_cpu_ratio_haproxy"], wc["added_proc_cpu_ratio_haproxy"]
                detail = (f"judged on {basis}: core {wc['added_cpu']:.1f} vs {hc['added_cpu']:.1f}"
                          + (f" = {r_core:.2f}x" if r_core is not None else "")
                          + f"; process {wc['added_proc_cpu']:.1f} vs {hc['added_proc_cpu']:.1f}"
                          + (f" = {r_proc:.2f}x" if r_proc is not None else "") + " µs/req")
                target(f"weft h2 chain added CPU/req <= 1.2x haproxy's (-m{m})",
                       None if hc[key] <= 0 else wc[key] <= 1.2 * hc[key], detail, timing=False)
        if h1 and w1:
            target(f"weft h2 1 hop peak >= 1.0x haproxy h2 1 hop (-m{m})", w1["rps"] >= h1["rps"],
                   f"{fmt_int(w1['rps'])} vs {fmt_int(h1['rps'])} rps = {w1['rps'] / h1['rps']:.2f}x")
    if many:
        many_weft = max(many.get("weft-h2-client", 0), many.get("weft-h2-server", 0))
        target(f"weft sidecar RSS under {meta['many_connections']} HTTP/2 conns < 60 MB", 0 < many_weft < 60 * 1024,
               f"{mb(many_weft):.1f} MB (the larger sidecar)", timing=False)
    if targets:
        w("Issue 11 targets (HTTP/2):")
        w("")
        write_targets(w, targets)
    return {"medians": med, "targets": targets}


def write_h2_csv(path, med):
    with open(path, "w", newline="") as f:
        cols = ["scenario", "streams", "runs", "rps", "ratio_direct", "ratio_haproxy", "cpu_us_per_req", "added_cpu",
                "added_cpu_ratio_haproxy", "proc_cpu_us_per_req", "added_proc_cpu", "added_proc_cpu_ratio_haproxy",
                "errors", "body_ok"]
        wr = csv.writer(f)
        wr.writerow(cols + ["peak_rss_mb"])
        for x in med.values():
            wr.writerow([("" if x.get(c) is None else round(x[c], 2) if isinstance(x[c], float) else x[c]) for c in cols]
                        + [" + ".join(f"{v:.1f}" for v in x["peak_rss_mb"])])


if __name__ == "__main__":
    main()
