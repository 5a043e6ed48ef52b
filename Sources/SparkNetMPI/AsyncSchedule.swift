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
///
/// Each rank holds one passive epoch on the board for the whole run (MPI_Win_lock_all), and
/// every access is an accumulate operation (atomic per element): a read is one message, with no
/// lock to take and release. Across nodes the window is emulated with messages (osc/pt2pt),
/// which rank 0 serves only from inside MPI, so rank 0 turns MPI's progress engine after every
/// layer (`progress()`); without that the others made 1 step to rank 0's 200.
final class AsyncSchedule {
    let comm: Communicator
    private var window: MPI_Win? = nil
    /// Rank 0's board, `slots` values: tests posted; stopped (0 running, 1 ended, else the code
    /// of the signal that stopped it); rank 0's iteration at the last post; the stop and the
    /// snapshot requests the other ranks relayed (MAX of their codes, 0 if none).
    private var board: UnsafeMutablePointer<Int64>?
    private static let slots = 5
    /// Other ranks: the board's first three slots as last read.
    private let seen = UnsafeMutablePointer<Int64>.allocate(capacity: 3)
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

    /// Collective: creates the board and opens every rank's epoch on it.
    init(_ comm: Communicator) throws {
        self.comm = comm
        seen.initialize(repeating: 0, count: 3)
        let bytes = comm.isRoot ? Self.slots * MemoryLayout<Int64>.stride : 0
        var base: UnsafeMutableRawPointer? = nil
        let rc = MPI_Win_allocate(MPI_Aint(bytes), Int32(MemoryLayout<Int64>.stride), cmpi_info_null(),
                                  comm.comm, &base, &window)
        try require(rc == MPI_SUCCESS, "async-easgd: MPI_Win_allocate of the schedule board failed (\(rc))")
        if comm.isRoot, let base {
            let b = base.bindMemory(to: Int64.self, capacity: Self.slots)
            board = b
            // Before any epoch: no other rank accesses the window before the barrier below.
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            b.update(repeating: 0, count: Self.slots)
            MPI_Win_unlock(0, window)
        }
        comm.barrier()
        MPI_Win_lock_all(0, window)
    }

    deinit { seen.deallocate() }

    /// Collective: closes the epochs and frees the board.
    func free() {
        guard window != nil else { return }
        MPI_Win_unlock_all(window)
        MPI_Win_free(&window)
        window = nil
        board = nil
    }

    /// Rank 0: a test at `iteration` starts now.
    func postTest(iteration: Int) { post(tests: testsPosted + 1, stopped: 0, iteration: iteration) }

    /// Rank 0: training has ended at `iteration`, at max_iter (`signal` 0) or on the stop
    /// request `signal` (a `StopRequests.code`).
    func postStop(iteration: Int, signal: Int64 = 0) {
        stopSignal = signal
        post(tests: testsPosted, stopped: signal != 0 ? signal : 1, iteration: iteration)
    }

    /// Rank 0 writes the board through MPI (never by plain stores, which other ranks' atomic
    /// reads could see half done): the iteration first, so a rank that reads the new flags also
    /// reads the iteration they belong to.
    private func post(tests: Int, stopped: Int64, iteration: Int) {
        guard leads, window != nil else { return }
        testsPosted = tests
        var it = Int64(iteration)
        MPI_Accumulate(&it, 1, cmpi_int64(), 0, 2, 1, cmpi_int64(), cmpi_op_replace(), window)
        MPI_Win_flush(0, window)
        var flags: [Int64] = [Int64(tests), stopped]
        MPI_Accumulate(&flags, 2, cmpi_int64(), 0, 0, 2, cmpi_int64(), cmpi_op_replace(), window)
        MPI_Win_flush(0, window)
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
        guard window != nil else { return 0 }
        if !leads {
            guard requests != [0, 0] else { return 0 }
            MPI_Accumulate(&requests, 2, cmpi_int64(), 0, 3, 2, cmpi_int64(), cmpi_op_max(), window)
            MPI_Win_flush(0, window)
            return 0
        }
        // Rank 0's own window, read atomically against the other ranks' accumulates.
        var none: Int64 = 0
        var relayed: [Int64] = [0, 0]
        MPI_Get_accumulate(&none, 0, cmpi_int64(), &relayed, 2, cmpi_int64(), 0, 3, 2, cmpi_int64(),
                           cmpi_op_no_op(), window)
        MPI_Win_flush(0, window)
        stopRequested = max(stopRequested, requests[0], relayed[0])
        let snapshot = max(requests[1], relayed[1])
        guard snapshot != 0, !reportedSnapshot else { return 0 }
        reportedSnapshot = true
        return snapshot
    }

    /// Other ranks: reads the board (rank 0's iteration, whether it stopped, tests posted).
    /// The read waits for its answer: it paces the other ranks by rank 0 (without it, on one
    /// node, ranks with cheap steps ran 100 times ahead of rank 0 and starved its exchanges);
    /// across nodes it costs about one of rank 0's layers. Rank 0: `progress()`.
    func refresh() {
        guard window != nil else { return }
        if leads { return progress() }
        var none: Int64 = 0
        MPI_Get_accumulate(&none, 0, cmpi_int64(), seen, 3, cmpi_int64(), 0, 0, 3, cmpi_int64(),
                           cmpi_op_no_op(), window)
        MPI_Win_flush(0, window)
        take()
    }

    /// Rank 0: one turn of MPI's progress engine. Across nodes every message of another
    /// rank's exchange with rank 0's windows waits for one; the trainer calls this after every
    /// layer of rank 0's forward and backward passes, so they wait about a layer, not a step.
    func progress() {
        var flag: Int32 = 0
        MPI_Iprobe(cmpi_any_source(), cmpi_any_tag(), comm.comm, &flag, cmpi_status_ignore())
    }

    private func take() {
        // Flags first (index 0, 1), then the iteration they belong to (index 2): see `post`.
        testsPosted = Int(seen[0])
        stopped = seen[1] != 0
        stopSignal = seen[1] > 1 ? seen[1] : 0
        rootIteration = Int(seen[2])
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
