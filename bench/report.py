#!/usr/bin/env python3
"""Turns one bench run into the results table and issue 10's target checks.

Usage: report.py META.json RUNS.jsonl OUT_PREFIX
Reads the run's metadata (written by run.sh) and one JSON line per measured run; writes
OUT_PREFIX.md (the table, targets, settings), OUT_PREFIX.json (metadata, medians, every run) and
OUT_PREFIX.csv (medians), and prints the Markdown to stdout. Medians are taken per metric over the
repeats of a scenario.
"""
import csv
import json
import statistics
import sys

ORDER = ["direct", "haproxy-1hop", "haproxy-chain", "nginx-1hop", "nginx-chain", "weft-1hop", "weft-chain"]
LABEL = {
    "direct": "direct",
    "haproxy-1hop": "haproxy, 1 hop",
    "haproxy-chain": "haproxy, sidecar -> sidecar",
    "nginx-1hop": "nginx, 1 hop",
    "nginx-chain": "nginx, sidecar -> sidecar",
    "weft-1hop": "weft, 1 hop",
    "weft-chain": "weft, sidecar -> sidecar",
}
NOISY_PCT = 10  # server core busy with other work (%), above which a run is marked noisy

PROXIES = {
    "haproxy-1hop": ["haproxy-server"], "haproxy-chain": ["haproxy-client", "haproxy-server"],
    "nginx-1hop": ["nginx-server"], "nginx-chain": ["nginx-client", "nginx-server"],
    "weft-1hop": ["weft-server"], "weft-chain": ["weft-client", "weft-server"],
}


def fmt_int(x):
    return f"{x:,.0f}".replace(",", " ")


def mb(kb):
    return kb / 1024.0


def main():
    meta_path, runs_path, out = sys.argv[1:4]
    meta = json.load(open(meta_path))
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]

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

    # Other work on the server core while the bench idled (sampled before and after): a noisy run's
    # throughput, latency and core CPU are not the proxies' alone.
    bg = meta["server_core_background_busy_pct"]
    noisy = max(bg["before"], bg["after"]) > NOISY_PCT

    lines = []
    w = lines.append
    w(f"Run {meta['date']}{' (--quick: 1 repeat, 3 s; a smoke test, not a result)' if meta['quick'] else ''}: "
      f"medians of {meta['repeats']}, peak `wrk -t1 -c{meta['peak_connections']} -d{meta['peak_seconds']}s`, "
      f"latency at {meta['latency_rate']} req/s over {meta['latency_connections']} connections for "
      f"{meta['latency_seconds']} s. Weft {meta['weft_commit']} ({meta.get('weft_proxy_image', '?')}), haproxy {meta['haproxy']}, nginx {meta['nginx']}, "
      f"wrk {meta['wrk']}, .NET SDK {meta['dotnet']}; {meta['cpu_model']}.")
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
    w("| target | result | measured |")
    w("| --- | --- | --- |")
    for t in targets:
        result = "n/a" if t["pass"] is None else "PASS" if t["pass"] else "FAIL"
        if t["noisy"]:
            result += " (noisy run: unreliable)"
        w(f"| {t['target']} | {result} | {t['detail']} |")
    text = "\n".join(lines) + "\n"

    with open(out + ".md", "w") as f:
        f.write(text)
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "noisy": noisy, "medians": med, "targets": targets, "runs": runs}, f, indent=1, ensure_ascii=False)
    with open(out + ".csv", "w", newline="") as f:
        cols = ["scenario", "runs", "rps", "ratio_direct", "ratio_haproxy", "p50", "p90", "p99", "p999", "added_p99",
                "cpu_us_per_req", "added_cpu", "proc_cpu_us_per_req", "added_proc_cpu", "late_sends", "errors"]
        wr = csv.writer(f)
        wr.writerow(cols + ["peak_rss_mb"])
        for s in ORDER:
            if s in med:
                x = med[s]
                wr.writerow([s] + [("" if x.get(c) is None else round(x[c], 2) if isinstance(x[c], float) else x[c])
                                   for c in cols[1:]] + [" + ".join(f"{v:.1f}" for v in x["peak_rss_mb"])])
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
