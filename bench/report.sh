#!/usr/bin/env bash
# Prints the table and the goal ratios of a bench/run.sh result.
#
#   bench/report.sh RESULT.json
#
# Each ratio divides two figures of the same run, so a busy or quiet
# machine moves both sides alike.
set -euo pipefail

result=${1:?usage: bench/report.sh RESULT.json}

jq -r '
  def rate(n): (.rows[] | select(.name == n) | .mbps) // null;
  def fmt(x): if x == null then "-" else (x * 10 | round / 10 | tostring) end;
  def ratio(a; b): if a == null or b == null or b == 0 then null
                   else a / b end;
  def r2(x): if x == null then "-" else (x * 100 | round / 100 | tostring) + "x" end;
  def check(x; min): if x == null then "n/a" elif x >= min then "ok"
                     else "below" end;
  .machine.cores as $c |
  ("keysift benchmark, \(.date), \(.machine.cpu), \(.machine.cores) cores," +
   " median of \(.runs_per_figure) runs"),
  "",
  ("  " + ("measurement" | .[0:36] + " " * (36 - length)) +
   "      MB/s    ratio  baseline              peak RSS"),
  (.rows[] as $r |
   ($r.baseline) as $b |
   (if $b == "" then null
    elif $r.kind == "peer" then ratio(rate($b); $r.mbps)
    else ratio($r.mbps; rate($b)) end) as $q |
   "  " + ($r.name | . + " " * (36 - length)) +
   (fmt($r.mbps) | " " * (10 - length) + .) +
   (r2($q) | " " * (9 - length) + .) + "  " +
   ($b | . + " " * (20 - length)) +
   (if $r.peak_rss_mib == null then "" else
      (fmt($r.peak_rss_mib) + " MiB" | " " * (12 - length) + .) end)
   | sub(" +$"; "")),
  "",
  "  start-up on one small file: \(.startup_ms.warm_cache) ms, rules cached;",
  "    \(.startup_ms.cold_cache) ms compiling them (cold cache)",
  "  peers, same patterns: YARA \(.peers.yara.rules) rules" +
    " (\(.peers.yara.skipped) skipped), ripgrep" +
    " \(.peers.ripgrep.patterns) (\(.peers.ripgrep.skipped) skipped)",
  "  ratio: the row over its baseline; for a peer, keysift over the peer",
  (.kernels as $k | [$k[] | .path] | unique[] as $p |
    "  kernels, \($p): " +
    ([$k[] | select(.path == $p) | "\(.kernel) \(.mbps) MB/s"] |
     join(", "))),
  "",
  "goals (ratios within this run):",
  ([ ["tar -j1 / hyperscan only -j1",
      ratio(rate("keysift tar -j1"); rate("hyperscan only -j1")), 0.70],
     ["tar.gz -j1 / bsdtar -xOf",
      ratio(rate("keysift tar.gz -j1");
            rate("bsdtar -xOf corpus.tar.gz")), 1.2],
     ["tar.gz -j\($c) / igzip -dc",
      ratio(rate("keysift tar.gz -j\($c)"); rate("igzip -dc")), 0.85],
     ["tar.zst -j\($c) / zstd -dc",
      ratio(rate("keysift tar.zst -j\($c)"); rate("zstd -dc")), 0.85],
     ["image -j\($c) / image -j1",
      ratio(rate("keysift image -j\($c)"); rate("keysift image -j1")), 1.8],
     ["directory -j\($c) / directory -j1",
      ratio(rate("keysift directory -j\($c)");
            rate("keysift directory -j1")), 1.8],
     ["keysift / yara, same sample",
      ratio(rate("keysift sample -j\($c)"); rate("yara sample -p\($c)")), 10],
     ["keysift / ripgrep, same sample",
      ratio(rate("keysift sample -j\($c)"); rate("ripgrep -f sample")), 100]
   ][] |
   "  " + (.[0] | . + " " * (36 - length)) +
   (r2(.[1]) | " " * (9 - length) + .) +
   "  (want >= \(.[2])x)  " + check(.[1]; .[2])),
  ([.rows[] | select(.kind == "keysift") | .peak_rss_mib] | max) as $rss |
  "  peak RSS of keysift, worst row       \(fmt($rss)) MiB  (want < 256)  " +
    (if $rss < 256 then "ok" else "above" end),
  "  warm start-up                        \(.startup_ms.warm_cache) ms" +
    "  (want < 20)  " +
    (if .startup_ms.warm_cache < 20 then "ok" else "above" end)
' "$result"
