import CMPI
import SparkNet

/// The job's clock in async-easgd. Ranks step at their own pace, so a fast rank completes more
/// local steps than a slow one; rank 0's iteration is the job's. Rank 0 posts on a small board
/// (an MPI window it hosts) when it tests and when it has reached max_iter; every other rank
/// reads the board once per step, joins a posted test (tests stay collective: each rank scores
/// its shard) and stops when rank 0 has, taking rank 0's iteration count, so that everything
/// after training (final test, snapshot names) is decided alike on every rank.
///
/// Stop signals travel on the board too: a rank that receives one adds its request there
/// (`relaySignals`, MPI_Accumulate with MAX of `StopRequests.code`); rank 0 reads the board at
/// every step and, on a stop request, ends training at its current iteration as it does at
/// max_iter, posting which signal stopped it, so every rank snapshots that iteration and stops.
final class AsyncSchedule {
    let comm: Communicator
    private var window: MPI_Win? = nil
    /// Rank 0's board, `slots` values: tests posted; stopped (0 running, 1 ended, else the code
    /// of the signal that stopped it); rank 0's iteration at the last post; the stop and the
    /// snapshot requests the other ranks relayed (MAX of their codes, 0 if none).
    private var board: UnsafeMutablePointer<Int64>?
    private static let slots = 5
    private var testsJoined = 0
    private var testsPosted = 0
    /// Rank 0's iteration as last read (other ranks).
    private(set) var rootIteration = 0
    /// Whether rank 0 has stopped (other ranks, as last read).
    private(set) var stopped = false
    /// Once training has stopped: the code of the signal that stopped it (every rank), or 0
    /// when it ended at max_iter.
    private(set) var stopSignal: Int64 = 0
    /// Rank 0: the code of a stop requested so far on any rank (0 if none).
    private(set) var stopRequested: Int64 = 0
    /// Rank 0: whether `relaySignals` has returned a snapshot request.
    private var reportedSnapshot = false

    var leads: Bool { comm.isRoot }

    /// Collective: creates the board.
    init(_ comm: Communicator) throws {
        self.comm = comm
        let bytes = comm.isRoot ? Self.slots * MemoryLayout<Int64>.stride : 0
        var base: UnsafeMutableRawPointer? = nil
        let rc = MPI_Win_allocate(MPI_Aint(bytes), Int32(MemoryLayout<Int64>.stride), cmpi_info_null(),
                                  comm.comm, &base, &window)
        try require(rc == MPI_SUCCESS, "async-easgd: MPI_Win_allocate of the schedule board failed (\(rc))")
        if comm.isRoot, let base {
            let b = base.bindMemory(to: Int64.self, capacity: Self.slots)
            board = b
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            b.update(repeating: 0, count: Self.slots)
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

    /// Rank 0: training has ended at `iteration`, at max_iter (`signal` 0) or on the stop
    /// request `signal` (a `StopRequests.code`).
    func postStop(iteration: Int, signal: Int64 = 0) {
        stopSignal = signal
        post { $0[1] = signal != 0 ? signal : 1; $0[2] = Int64(iteration) }
    }

    /// Every rank, at every step: takes this process's signals. Another rank adds its requests
    /// to the board (rarely: only when it has some); rank 0 merges its own with the board's
    /// into `stopRequested`, and returns the code of the first snapshot request (SIGUSR2) on
    /// any rank, once (so one SIGUSR2 to mpirun, which reaches every rank, is reported once);
    /// 0 otherwise.
    func relaySignals() -> Int64 {
        let (mine, sig) = StopSignals.take()
        let code = StopRequests.code(signal: sig, rank: comm.rank)
        var requests: [Int64] = [mine.contains(.stop) ? code : 0, mine.contains(.snapshot) ? code : 0]
        if !leads {
            guard requests != [0, 0], window != nil else { return 0 }
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            requests.withUnsafeMutableBufferPointer { r in
                _ = MPI_Accumulate(r.baseAddress, 2, cmpi_int64(), 0, 3, 2, cmpi_int64(), cmpi_op_max(), window)
            }
            MPI_Win_unlock(0, window)
            return 0
        }
        guard let b = board, window != nil else { return 0 }
        // A shared lock, as the other ranks' reads: an exclusive one at every step would queue
        // behind theirs and slow rank 0 several-fold.
        MPI_Win_lock(Int32(cmpi_lock_shared()), 0, 0, window)
        let relayed = (stop: b[3], snapshot: b[4])
        MPI_Win_unlock(0, window)
        stopRequested = max(stopRequested, requests[0], relayed.stop)
        let snapshot = max(requests[1], relayed.snapshot)
        guard snapshot != 0, !reportedSnapshot else { return 0 }
        reportedSnapshot = true
        return snapshot
    }

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
        stopSignal = v[1] > 1 ? v[1] : 0
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
