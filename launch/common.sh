# Shared by launch/setup, launch/run and launch/test. Sourced, not executed.

EPSIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EPSIM_BIN="$EPSIM_ROOT/.build/release"

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
