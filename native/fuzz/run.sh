#!/usr/bin/env bash
# Builds and runs the fuzz harness of native/rx-loop.c (native/fuzz/rx-loop-fuzz.c).
#   run.sh check [N]      gcc, ASan+UBSan: the fixed cases and N (6000) fixed-seed
#                         random inputs; prints a summary line, exits non-zero on a bug
#   run.sh fuzz SECONDS   clang + libFuzzer, one job, corpus in /tmp/rx-loop-fuzz-corpus
# Needs gcc (clang for fuzz) and OpenSSL's headers (libssl-dev). Builds into /tmp.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${RX_FUZZ_OUT:-/tmp/rx-loop-fuzz}"
mkdir -p "$out"
# node_api.h and uv.h from Node's headers, after the system's (so OpenSSL's are the system's)
inc=(-idirafter /usr/include/node)
for h in /usr/include/node/node_api.h /usr/include/openssl/evp.h; do
  [ -e "$h" ] || { echo "run.sh: $h missing (nodejs headers / libssl-dev)" >&2; exit 2; }
done
case "${1:-}" in
  check)
    gcc -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter \
      "${inc[@]}" -o "$out/check" "$here/rx-loop-fuzz.c" -lcrypto
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$out/check" "${2:-6000}"
    ;;
  fuzz)
    secs="${2:?usage: run.sh fuzz SECONDS}"
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DFUZZING \
      "${inc[@]}" -o "$out/fuzz" "$here/rx-loop-fuzz.c" -lcrypto
    mkdir -p /tmp/rx-loop-fuzz-corpus
    cd "$out"
    "$out/fuzz" -max_total_time="$secs" -jobs=1 -workers=1 -max_len=4096 -print_final_stats=1 \
      /tmp/rx-loop-fuzz-corpus
    ;;
  *)
    echo "usage: run.sh check [N] | run.sh fuzz SECONDS" >&2
    exit 2
    ;;
esac
