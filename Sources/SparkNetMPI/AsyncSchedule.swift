import CMPI
import SparkNet

/// The job's clock in async-easgd. Ranks step at their own pace, so a fast rank completes more
/// local steps than a slow one; rank 0's iteration is the job's. Rank 0 posts on a small board
/// (an MPI window it hosts) when it tests and when it has reached max_iter; every other rank
/// reads the board once per step, joins a posted test (tests stay collective: each rank scores
/// its shard) and stops when rank 0 has, taking rank 0's iteration count, so that everything
/// after training (final test, snapshot names) is decided alike on every rank.
final class AsyncSchedule {
    let comm: Communicator
    private var window: MPI_Win? = nil
    /// Rank 0's board: tests posted, stopped (0/1), rank 0's iteration at the last post.
    private var board: UnsafeMutablePointer<Int64>?
    private var testsJoined = 0
    private var testsPosted = 0
    /// Rank 0's iteration as last read (other ranks).
    private(set) var rootIteration = 0
    /// Whether rank 0 has stopped (other ranks, as last read).
    private(set) var stopped = false

    var leads: Bool { comm.isRoot }

    /// Collective: creates the board.
    init(_ comm: Communicator) throws {
        self.comm = comm
        let bytes = comm.isRoot ? 3 * MemoryLayout<Int64>.stride : 0
        var base: UnsafeMutableRawPointer? = nil
        let rc = MPI_Win_allocate(MPI_Aint(bytes), Int32(MemoryLayout<Int64>.stride), cmpi_info_null(),
                                  comm.comm, &base, &window)
        try require(rc == MPI_SUCCESS, "async-easgd: MPI_Win_allocate of the schedule board failed (\(rc))")
        if comm.isRoot, let base {
            let b = base.bindMemory(to: Int64.self, capacity: 3)
            board = b
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            b[0] = 0; b[1] = 0; b[2] = 0
            MPI_Win_unlock(0, window)
        }
        comm.barrier()
    }

    /// Collective: frees the board.
    func free() {
        if window != nil { MPI_Win_free(&window) }
        window = nil
        board = nil
    }

    /// Rank 0: a test at `iteration` starts now.
    func postTest(iteration: Int) { post { $0[0] += 1; $0[2] = Int64(iteration) } }

    /// Rank 0: training has ended at `iteration`.
    func postStop(iteration: Int) { post { $0[1] = 1; $0[2] = Int64(iteration) } }

    private func post(_ body: (UnsafeMutablePointer<Int64>) -> Void) {
        guard let b = board, window != nil else { return }
        MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
        body(b)
        MPI_Win_unlock(0, window)
    }

    /// Other ranks: reads the board (rank 0's iteration, whether it stopped, tests posted).
    func refresh() {
        guard !leads, window != nil else { return }
        var v = [Int64](repeating: 0, count: 3)
        MPI_Win_lock(Int32(cmpi_lock_shared()), 0, 0, window)
        v.withUnsafeMutableBufferPointer { b in
            _ = MPI_Get(b.baseAddress, 3, cmpi_int64(), 0, 0, 3, cmpi_int64(), window)
        }
        MPI_Win_unlock(0, window)
        testsPosted = Int(v[0])
        stopped = v[1] != 0
        rootIteration = Int(v[2])
    }

    /// Other ranks: whether a test was posted (as last read) that this rank has not joined;
    /// if so it counts as joined. Rank 0 waits in each test until every rank has joined, so at
    /// most one is ever pending.
    func takeTest() -> Bool {
        guard testsPosted > testsJoined else { return false }
        testsJoined += 1
        return true
    }
}
