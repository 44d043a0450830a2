#!/usr/bin/env bash
# Fuzzes s2d's parsers of untrusted input with libFuzzer under ASan + UBSan (clang from Debian).
#
#   scripts/fuzz.sh [SECONDS]     each target for SECONDS (default 60), new inputs kept in
#                                 build-fuzz/corpus/; prints executions and crashes per target
#   scripts/fuzz.sh --regress     each target once over its seed corpus (tests/fuzz/corpus/):
#                                 the short run scripts/test.sh does
#   FUZZ_TARGETS="answers chat_template" limits the targets.
# A crash leaves its input in build-fuzz/crashes/TARGET/ and fails the script (exit 1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
ALL_TARGETS="safetensors_header model_config jsonl_readers openai_request answers chat_template tokenizer_json gguf"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"
log() { printf '\033[1m[s2d fuzz]\033[0m %s\n' "$*" >&2; }

mode=time seconds=60
case "${1:-}" in
  --regress) mode=regress ;;
  "") ;;
  *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS | --regress]" >&2; exit 2 ;;
  *) seconds="$1" ;;
esac

# clang and its libFuzzer/sanitizer runtimes, plus the parsers' own libraries.
need=()
command -v clang++ >/dev/null || need+=(clang)
for p in libclang-rt-14-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libsentencepiece-dev libpcre2-dev libutf8proc-dev cmake ninja-build; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT/tests/fuzz" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
fi
log "building the fuzz targets (clang, ASan + UBSan)"
cmake --build "$BUILD" >/dev/null

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
total=0 failed=0
for t in $TARGETS; do
  seeds="$ROOT/tests/fuzz/corpus/$t"
  crashes="$BUILD/crashes/$t"
  mkdir -p "$crashes"
  # -rss_limit_mb and -malloc_limit_mb: an input that makes a parser allocate without bound is a crash too.
  common=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -timeout=10 -print_final_stats=1
          "-artifact_prefix=$crashes/")
  out="$BUILD/$t.log"
  if [ "$mode" = regress ]; then
    set +e; "$BUILD/fuzz_$t" "${common[@]}" -runs=0 "$seeds" >"$out" 2>&1; rc=$?; set -e
  else
    work="$BUILD/corpus/$t"
    mkdir -p "$work"
    set +e; "$BUILD/fuzz_$t" "${common[@]}" -max_total_time="$seconds" "$work" "$seeds" >"$out" 2>&1; rc=$?; set -e
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    log "$t: FAILED (exit $rc) after $runs executions; see $out"
    grep -m 20 -E 'ERROR|SUMMARY|uncaught|Test unit written' "$out" >&2 || true
  else
    log "$t: $runs executions, 0 crashes"
  fi
done
log "total: $total executions over $(wc -w <<<"$TARGETS") targets, $failed failed"
[ $failed -eq 0 ]
