import CMPI
import Foundation

/// The process-wide MPI runtime. MPI may be initialised once per process and never again after
/// `MPI_Finalize`, so `initialize()` runs `MPI_Init_thread` exactly once (a `static let`) and
/// registers `MPI_Finalize` with `atexit`. Every MPI user calls `initialize()` first; without
/// mpirun the process is an MPI singleton (rank 0 of 1).
public enum MPIEnvironment {
    /// The thread level MPI granted. We ask for SERIALIZED: only one thread at a time calls MPI
    /// (the data prefetch thread does memcpy only; HDF5 and MPI stay on the calling thread).
    public static var threadLevel: Int32 { initialize(); return state.threadLevel }

    private struct State: Sendable {
        let threadLevel: Int32
        let rank: Int
        let size: Int
    }

    private static let state: State = {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        var provided: Int32 = 0
        if flag == 0 {
            // The exchanges are non-blocking collectives (so a watchdog can give up on them),
            // which Open MPI runs in libnbc, not in coll/tuned or coll/han. Measured on the
            // emulated cluster (docs/communication.md): libnbc's own choices lose. For in-place
            // MPI_Iallreduce it picks a binomial tree, 1.2-2.3x slower than reduce-scatter +
            // allgather (3), which matches the ring on K nodes x 1 rank and takes 0.64-0.68x
            // its time on 2 nodes x 2 ranks. Its MPI_Ibcast for K <= 4 sends the whole buffer
            // from the root to every rank (linear): the chain (3) and a chained MPI_Ireduce (1)
            // take --sync master from 42 % to 93-99 % of a 4-node link. A user's setting wins.
            setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", 0)
            setenv("OMPI_MCA_coll_libnbc_ibcast_algorithm", "3", 0)
            setenv("OMPI_MCA_coll_libnbc_ireduce_algorithm", "1", 0)
            // async-easgd's windows: across nodes joined by TCP, Open MPI 4.1 picks osc/rdma,
            // whose MPI_Win_allocate then fails (the TCP BTL has no remote atomics); without it
            // they use osc/ucx where UCX runs, else osc/pt2pt. On one node osc/rdma (over shared
            // memory) stays: osc/sm's locks let ranks with cheap steps starve rank 0 (measured:
            // 9,000 local steps against rank 0's 60). mpirun tells each rank how many share its
            // node; the component is chosen when MPI starts, so this is decided before.
            let env = ProcessInfo.processInfo.environment
            if let size = env["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }),
               let local = env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap({ Int($0) }), local < size {
                setenv("OMPI_MCA_osc", "^rdma", 0)
            }
            MPI_Init_thread(nil, nil, Int32(cmpi_thread_serialized()), &provided)
            atexit {
                var finalized: Int32 = 0
                MPI_Finalized(&finalized)
                if finalized == 0 { MPI_Finalize() }
            }
        } else {
            MPI_Query_thread(&provided)
        }
        var r: Int32 = 0, s: Int32 = 1
        MPI_Comm_rank(cmpi_comm_world(), &r)
        MPI_Comm_size(cmpi_comm_world(), &s)
        return State(threadLevel: provided, rank: Int(r), size: Int(s))
    }()

    /// Initialises MPI on first call (thread-safe); later calls do nothing.
    public static func initialize() { _ = state }

    /// This process's rank in MPI_COMM_WORLD.
    public static var rank: Int { state.rank }
    /// The number of ranks in MPI_COMM_WORLD.
    public static var size: Int { state.size }
    /// Whether this is rank 0, the rank that logs and writes files.
    public static var isRoot: Bool { state.rank == 0 }

    /// This process's rank as its launcher (mpirun, srun) put it in the environment, readable
    /// before MPI starts; nil when no launcher started it.
    public static var launcherRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
    }

    /// Blocks until every rank reaches it.
    public static func barrier() {
        initialize()
        MPI_Barrier(cmpi_comm_world())
    }

    /// Ends the whole job (every rank) with `code`; use after reporting an error on one rank.
    public static func abort(code: Int32 = 1) -> Never {
        initialize()
        fflush(nil)  // flushes every output stream, so the message is out before the job ends
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker.
    }

    /// The rows `[⌊rank·n/size⌋, ⌊(rank+1)·n/size⌋)` that `rank` owns of `n` rows.
    public static func shardRange(n: Int, rank: Int, size: Int) -> Range<Int> {
        let lo = rank * n / size
        let hi = (rank + 1) * n / size
        return lo..<hi
    }
}
