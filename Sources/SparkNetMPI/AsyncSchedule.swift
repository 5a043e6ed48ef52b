import CMPI
import SparkNet

/// The job's clock in async-easgd. Ranks step at their own pace, so a fast rank completes more
/// local steps than a slow one; rank 0's iteration is the job's. Rank 0 posts on a small board
/// (an MPI window it hosts) when it tests and when it has reached max_iter; every other rank
/// reads the board once per step, joins a posted test (tests stay collective: each rank scores
/// its shard) and stops when rank 0 has, taking rank 0's iteration count, so that everything
/// after training (final test, snapshot names) is decided alike on every rank.
///
/// Reads never wait: each rank holds one passive epoch on the board for the whole run
/// (MPI_Win_lock_all) and keeps one non-blocking read in flight (MPI_Rget_accumulate with
/// MPI_NO_OP, atomic per element against rank 0's MPI_REPLACE writes), taking its result at a
/// later step. Across nodes the window is emulated with messages (osc/pt2pt), which rank 0
/// serves only from inside MPI: a read that waited would tie every rank to rank 0's MPI calls.
final class AsyncSchedule {
    let comm: Communicator
    private var window: MPI_Win? = nil
    /// Rank 0's board: tests posted, stopped (0/1), rank 0's iteration at the last post.
    private var board: UnsafeMutablePointer<Int64>?
    /// Other ranks: the read in flight and its buffer.
    private var read: MPI_Request? = nil
    private let seen = UnsafeMutablePointer<Int64>.allocate(capacity: 3)
    private var testsJoined = 0
    private var testsPosted = 0
    /// Rank 0's iteration as last read (other ranks).
    private(set) var rootIteration = 0
    /// Whether rank 0 has stopped (other ranks, as last read).
    private(set) var stopped = false

    var leads: Bool { comm.isRoot }

    /// Collective: creates the board and opens every rank's epoch on it.
    init(_ comm: Communicator) throws {
        self.comm = comm
        seen.initialize(repeating: 0, count: 3)
        let bytes = comm.isRoot ? 3 * MemoryLayout<Int64>.stride : 0
        var base: UnsafeMutableRawPointer? = nil
        let rc = MPI_Win_allocate(MPI_Aint(bytes), Int32(MemoryLayout<Int64>.stride), cmpi_info_null(),
                                  comm.comm, &base, &window)
        try require(rc == MPI_SUCCESS, "async-easgd: MPI_Win_allocate of the schedule board failed (\(rc))")
        if comm.isRoot, let base {
            let b = base.bindMemory(to: Int64.self, capacity: 3)
            board = b
            // Before any epoch: no other rank can access the window yet (the barrier below).
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            b[0] = 0; b[1] = 0; b[2] = 0
            MPI_Win_unlock(0, window)
        }
        comm.barrier()
        MPI_Win_lock_all(0, window)
    }

    deinit { seen.deallocate() }

    /// Collective: completes the read in flight, closes the epochs and frees the board.
    func free() {
        guard window != nil else { return }
        if read != nil { MPI_Wait(&read, cmpi_status_ignore()) }
        MPI_Win_unlock_all(window)
        MPI_Win_free(&window)
        window = nil
        board = nil
    }

    /// Rank 0: a test at `iteration` starts now.
    func postTest(iteration: Int) { post(tests: testsPosted + 1, stopped: 0, iteration: iteration) }

    /// Rank 0: training has ended at `iteration`.
    func postStop(iteration: Int) { post(tests: testsPosted, stopped: 1, iteration: iteration) }

    /// Rank 0 writes the board through MPI (never by plain stores, which other ranks' atomic
    /// reads could see half done): the iteration first, so a rank that reads the new flags also
    /// reads the iteration they belong to.
    private func post(tests: Int, stopped: Int, iteration: Int) {
        guard leads, window != nil else { return }
        testsPosted = tests
        var it = Int64(iteration)
        MPI_Accumulate(&it, 1, cmpi_int64(), 0, 2, 1, cmpi_int64(), cmpi_op_replace(), window)
        MPI_Win_flush(0, window)
        var flags: [Int64] = [Int64(tests), Int64(stopped)]
        MPI_Accumulate(&flags, 2, cmpi_int64(), 0, 0, 2, cmpi_int64(), cmpi_op_replace(), window)
        MPI_Win_flush(0, window)
    }

    /// Other ranks: takes the board's values if the read in flight has completed, and starts
    /// the next read. Rank 0: `progress()`.
    func refresh() {
        guard window != nil else { return }
        if leads { return progress() }
        if read != nil {
            var done: Int32 = 0
            MPI_Test(&read, &done, cmpi_status_ignore())
            guard done != 0 else { return }
            take()
        }
        startRead()
    }

    /// Rank 0: one turn of MPI's progress engine. Across nodes every message of another
    /// rank's exchange with rank 0's windows waits for one; the trainer calls this after every
    /// layer of rank 0's forward and backward passes, so they wait about a layer, not a step.
    func progress() {
        var flag: Int32 = 0
        MPI_Iprobe(cmpi_any_source(), cmpi_any_tag(), comm.comm, &flag, cmpi_status_ignore())
    }

    /// Other ranks: waits for a read of the board started now (rank 0 has to make progress
    /// for it: it is waiting in a test, or has stopped).
    func refreshNow() {
        guard !leads, window != nil else { return }
        if read != nil { MPI_Wait(&read, cmpi_status_ignore()) }
        startRead()
        MPI_Wait(&read, cmpi_status_ignore())
        take()
    }

    private func startRead() {
        var none: Int64 = 0
        MPI_Rget_accumulate(&none, 0, cmpi_int64(), seen, 3, cmpi_int64(), 0, 0, 3, cmpi_int64(),
                            cmpi_op_no_op(), window, &read)
    }

    private func take() {
        // Flags first (index 0, 1), then the iteration they belong to (index 2): see `post`.
        testsPosted = Int(seen[0])
        stopped = seen[1] != 0
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
