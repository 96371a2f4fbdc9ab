# Shared by launch/setup, launch/run and launch/test. Sourced, not executed.

EPSIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EPSIM_BIN="$EPSIM_ROOT/.build/release"

# Release builds are compiled for the CPU that builds them: the wire formats' bf16/fp16
# conversions in permute and unpermute run about 3 times faster with the host's vector
# units (AVX2, AVX-512) than with the x86-64 baseline (SSE2). Where the nodes that run
# epsim differ from the one that builds it, set EPSIM_TARGET_CPU to a CPU every node
# has (an LLVM CPU name: x86-64, haswell, znver3, sapphirerapids, neoverse-v1, ...).
EPSIM_TARGET_CPU="${EPSIM_TARGET_CPU:-native}"
if ! [[ "$EPSIM_TARGET_CPU" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "EPSIM_TARGET_CPU: expected an LLVM CPU name such as native, x86-64 or znver3, got '$EPSIM_TARGET_CPU'" >&2
    exit 2
fi
# Usage: swift build -c release $(release_build_flags)
release_build_flags() {
    echo -Xswiftc -target-cpu -Xswiftc "$EPSIM_TARGET_CPU"
}

# Flags mpirun needs on this machine: root, more ranks than cores, one BLAS thread per rank.
# Usage: mpirun_flags RANKS -> prints the flags, one per line.
mpirun_flags() {
    local ranks="$1"
    local cores
    cores="$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)"
    [ "$(id -u)" = 0 ] && echo --allow-run-as-root
    if [ "$ranks" -gt "$cores" ]; then
        echo --oversubscribe
        # Pinning more ranks than cores to cores makes them fight; let the kernel place them.
        echo --bind-to
        echo none
    fi
    # Containers have no InfiniBand; keep Open MPI from probing for it.
    echo --mca
    echo btl
    echo self,vader,tcp
    # Each rank is one process: keep OpenBLAS from starting a thread per core in each.
    echo -x
    echo OPENBLAS_NUM_THREADS=1
}

# Installs the Debian packages among "$@" (after the caller's name, for messages) that
# are not installed yet, with apt-get (sudo when not root). A no-op when all are there.
# Usage: install_missing CALLER PACKAGE...
install_missing() {
    local caller="$1" pkg
    shift
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "$caller: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
