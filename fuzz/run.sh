#!/usr/bin/env bash
# Runs one fuzz target for a bounded time with its seeds and dictionary:
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
# New interesting inputs go to fuzz/corpus/TARGET (ignored by git); crashes to
# fuzz/artifacts/TARGET. RUSTC_BOOTSTRAP=1 lets cargo-fuzz's nightly-only flags work on the
# stable toolchain (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
case $target in
  if_header | headers | range) dict=dict/if.dict ;;
  path | request | request_head) dict=dict/path.dict ;;
  *) dict=dict/xml.dict ;;
esac
mkdir -p "corpus/$target"
seeds=()
if [[ -d seeds/$target ]]; then seeds=("seeds/$target"); fi
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
  -max_total_time="$seconds" -dict="$dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$@"
