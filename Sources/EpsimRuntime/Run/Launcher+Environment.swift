#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the launcher (mpirun, srun) told this process through its environment, read
/// before MPI is initialized (so argument errors print once).
extension Launcher {
    /// The rank mpirun/srun gave this process; nil outside a launcher.
    public static var launchedRank: Int? {
        environmentInteger("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")
    }

    /// The world size mpirun/srun announced; nil outside a launcher.
    public static var launchedSize: Int? {
        environmentInteger("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS")
    }

    /// The world size an MPI launcher gave this very process (OMPI_COMM_WORLD_SIZE,
    /// PMIX_SIZE, PMI_SIZE); nil otherwise. Unlike `launchedSize` it ignores Slurm's
    /// SLURM_NTASKS, which a batch script's own shell sees too.
    public static var mpiWorldSize: Int? {
        environmentInteger("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE")
    }

    /// The ranks on this rank's node, from Open MPI's OMPI_COMM_WORLD_LOCAL_RANK and
    /// OMPI_COMM_WORLD_LOCAL_SIZE (ranks are placed on nodes in blocks by default); just
    /// `rank` when the launcher does not say.
    public static func nodeRanks(rank: Int, size: Int) -> Range<Int> {
        guard let local = environmentInteger("OMPI_COMM_WORLD_LOCAL_RANK"),
              let count = environmentInteger("OMPI_COMM_WORLD_LOCAL_SIZE"),
              local <= rank, count >= 1 else { return rank..<(rank + 1) }
        let first = rank - local
        return first..<min(size, first + count)
    }

    /// The first of `names` set to an integer.
    private static func environmentInteger(_ names: String...) -> Int? {
        for name in names {
            if let value = getenv(name), let n = Int(String(cString: value)) { return n }
        }
        return nil
    }
}
