#!/usr/bin/env bash
# The project's two entry points (README):
#   ./dev.sh demo   install what is missing, build, run the pool on a private redis-server
#                   with demo jobs and show their results
#   ./dev.sh test   install what is missing, build, run every test (ctest)
# and the steps they share: ./dev.sh deps | build
# ./dev.sh package builds the Debian package (fac-worker_VERSION_ARCH.deb) into build/
# and prints its path.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config
          libhiredis-dev libev-dev libmsgpack-dev libmariadb-dev libcurl4-openssl-dev
          libjansson-dev libssl-dev libsystemd-dev libcmocka-dev libmicrohttpd-dev
          clang clang-format libclang-rt-14-dev systemd dpkg-dev
          redis-server mariadb-server
          python3-redis python3-msgpack python3-pytest python3-rq tmux)
PY=/usr/bin/python3
BUILD=${FAC_BUILD_DIR:-build}

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$BUILD" -j "$(nproc)"
}

run_tests() {
    deps
    build
    (cd "$BUILD" && ctest --output-on-failure -j 2 "$@")
    # The same suite again on an ASan+UBSan build: memory errors and undefined
    # behaviour fail the run. Leak checks are off: workers exit without freeing.
    echo "==> again under AddressSanitizer + UndefinedBehaviorSanitizer"
    CMAKE_ARGS="-DFAC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" BUILD="$BUILD-asan" build
    (cd "$BUILD-asan" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2 "$@")
    # A short libFuzzer run of each harness over its kept corpus (clang build); long
    # runs: FAC_FUZZ_SECONDS=600 ctest -R fuzz in build-fuzz/.
    echo "==> fuzzing (${FAC_FUZZ_SECONDS:-15} s per harness)"
    CC=clang CMAKE_ARGS="-DFAC_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug" BUILD="$BUILD-fuzz" build
    (cd "$BUILD-fuzz" && FAC_FUZZ_SECONDS=${FAC_FUZZ_SECONDS:-15} ctest --output-on-failure -j 2 -R '^fuzz\.')
}

package() {
    # dpkg-shlibdeps (dpkg-dev) computes Depends; cpack's log is shown only on failure.
    local log
    log=$(cd "$BUILD" && cpack -G DEB 2>&1) || { echo "$log" >&2; return 1; }
    sed -n 's/^CPack: - package: \(.*\) generated\.$/\1/p' <<<"$log"
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

demo() {
    deps
    build
    # Globals, not locals: the EXIT trap runs after this function has returned.
    dir=$(mktemp -d /tmp/fac-demo.XXXXXX)
    port=$(free_port)
    redis_pid="" pool_pid=""
    cleanup() {
        [ -n "${pool_pid:-}" ] && kill -TERM "$pool_pid" 2>/dev/null && wait "$pool_pid" 2>/dev/null
        [ -n "${redis_pid:-}" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
        echo "==> stopped; logs and audit file kept in $dir"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
        --logfile "$dir/redis.log" &
    redis_pid=$!
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
    cat > "$dir/fac.json" <<JSON
{
  "redis": "redis://127.0.0.1:$port/0",
  "queues": ["short", "default", "long"],
  "workers": 2,
  "concurrency": 16,
  "scheduler": true,
  "log_file": "$dir/fac-worker.log",
  "audit": {"to": "jsonl", "path": "$dir/audit.jsonl"},
  "tools": {"echo": {}, "noop": {}, "fail": {}, "sleep": {"timeout": 2}}
}
JSON
    local ctl=("$BUILD/fac-ctl" -c "$dir/fac.json")
    "$BUILD/fac-worker" -c "$dir/fac.json" &
    pool_pid=$!
    until "${ctl[@]}" stats --json 2>/dev/null | grep -q '"state":"idle"'; do sleep 0.05; done
    echo "==> pool up: redis on 127.0.0.1:$port, files in $dir"
    echo; echo "==> echo (the result record):"
    "${ctl[@]}" enqueue echo '{"doctype": "Sales Invoice", "name": "SINV-0001", "api_key": "hidden-in-audit"}' \
        --site site1.local --user demo@example.com --wait
    echo; echo "==> fail (a tool error):"
    "${ctl[@]}" enqueue fail '{"message": "Customer is mandatory"}' --wait || true
    echo; echo "==> sleep 5 s with a 2 s timeout:"
    "${ctl[@]}" enqueue sleep '{"ms": 5000}' --wait || true
    echo; echo "==> a delayed job (--in 1s), promoted by the scheduler the pool runs:"
    "${ctl[@]}" enqueue echo '{"later": true}' --in 1s --wait
    echo; echo "==> unknown tool (goes to the dead list):"
    "${ctl[@]}" enqueue no_such_tool '{}' --wait || true
    echo; echo "==> 20,000 noop jobs:"
    "$PY" - "$port" <<'PY'
import sys, time, msgpack, redis
r = redis.Redis(port=int(sys.argv[1]))
n = 20000
t0 = time.time()
p = r.pipeline(transaction=False)
for i in range(n):
    p.lpush("fac:{default}:ready", msgpack.packb({"v": 1, "id": f"demo-{i}", "tool": "noop"}))
    if i % 1000 == 999: p.execute()
p.execute()
while r.llen("fac:{default}:ready") or any(r.llen(k) for k in r.scan_iter("fac:{default}:inflight:*")):
    time.sleep(0.01)
dt = time.time() - t0
done = sum(r.exists(f"fac:result:demo-{i}") for i in range(0, n, 100))
print(f"{n} jobs enqueued and finished in {dt:.2f} s ({n/dt:,.0f} jobs/s incl. enqueue); "
      f"{done}/{n//100} sampled result records present")
PY
    sleep 1.1 # let every worker's heartbeat report its counters
    echo; echo "==> fac-ctl stats:"
    "${ctl[@]}" stats
    echo; echo "==> the audit row of the echo job (secrets redacted):"
    grep -m1 '"tool_name":"echo"' "$dir/audit.jsonl"
    echo; echo "==> audit rows written: $(wc -l < "$dir/audit.jsonl")"
    if [ -t 0 ] && [ -z "${CI:-}" ]; then
        echo; echo "==> the pool keeps running; try: $BUILD/fac-ctl -c $dir/fac.json enqueue echo '{\"hi\": 1}' --wait"
        echo "    press Ctrl-C to stop"
        wait "$pool_pid"
    fi
}

case "${1:-}" in
    deps) deps ;;
    build) deps; build ;;
    test) shift; run_tests "$@" ;;
    demo) demo ;;
    package) deps; build; package ;;
    *) echo "usage: ./dev.sh demo | test | build | package | deps" >&2; exit 2 ;;
esac
