import CMPI
import SparkNet

/// `--sync async-easgd` (DeepSpark; EASGD's asynchronous variant): no barrier between ranks.
/// The center x̃ lives on rank 0 in an MPI window. At the end of its round a rank, holding an
/// exclusive lock on the window, reads x̃, computes d = α(w − x̃), sets w ← w − d and adds d to
/// x̃ (MPI_Accumulate); the lock makes each exchange atomic. Rank 0 trains like the others and
/// reaches its own window the same way.
///
/// Progress: on one node Open MPI uses shared memory (osc/sm), so a lock never waits for rank 0
/// to enter MPI. Across nodes a lock may wait until rank 0 next calls MPI (its own round).
public final class AsyncElasticAverage: Synchronizer {
    public let mode = SyncMode.asyncEASGD
    public let syncsWeights = false
    public let roundsAreCollective = false
    public var hasCenter: Bool { comm.size > 1 }
    let comm: Communicator
    let alpha: Float

    private var window: MPI_Win? = nil
    /// Rank 0's window memory (the center); nil elsewhere.
    private var hosted: UnsafeMutablePointer<Float>?
    private var count = 0
    /// This rank's copy of x̃ as read, then d.
    private var scratch: [Float] = []

    public init(_ comm: Communicator, alpha: Float) {
        self.comm = comm
        self.alpha = alpha
    }

    deinit { free() }

    private func free() {
        if window != nil { MPI_Win_free(&window) }
        window = nil
        hosted = nil
    }

    /// Collective: creates the window (rank 0 holds `count` floats), rank 0 fills it, and all
    /// ranks wait until it is filled.
    public func start(_ solver: Solver, center: [Float]?) throws {
        guard comm.size > 1 else { return }
        let w = solver.net.weights
        count = w.count
        if let center {
            try require(center.count == count, "async-easgd: the saved center has \(center.count) values, the net \(count)")
        }
        scratch = [Float](repeating: 0, count: count)
        let bytes = comm.isRoot ? count * MemoryLayout<Float>.stride : 0
        var base: UnsafeMutableRawPointer? = nil
        let rc = MPI_Win_allocate(MPI_Aint(bytes), Int32(MemoryLayout<Float>.stride), cmpi_info_null(),
                                  comm.comm, &base, &window)
        try require(rc == MPI_SUCCESS, "async-easgd: MPI_Win_allocate of \(bytes) bytes failed (\(rc))")
        if comm.isRoot, let base {
            let x = base.bindMemory(to: Float.self, capacity: count)
            hosted = x
            lockSelf {
                if let center {
                    center.withUnsafeBufferPointer { copy(count, $0.baseAddress!, x) }
                } else {
                    copy(count, w.baseAddress!, x)
                }
            }
        }
        comm.barrier()
    }

    private func lockSelf(_ body: () -> Void) {
        MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
        body()
        MPI_Win_unlock(0, window)
    }

    /// Calls `body(offset, count)` over `[0, count)` in pieces MPI can count.
    private func chunks(_ body: (Int, Int32) -> Void) {
        var offset = 0
        repeat {
            let n = min(count - offset, Int(Int32.max))
            body(offset, Int32(n))
            offset += n
        } while offset < count
    }

    public func endRound(_ solver: Solver) throws {
        guard comm.size > 1, window != nil else { return }
        let w = solver.net.weights.baseAddress!, n = count
        scratch.withUnsafeMutableBufferPointer { sb in
            let x = sb.baseAddress!
            MPI_Win_lock(Int32(cmpi_lock_exclusive()), 0, 0, window)
            chunks { off, c in
                MPI_Get(x + off, c, cmpi_float(), 0, MPI_Aint(off), c, cmpi_float(), window)
            }
            MPI_Win_flush(0, window)
            // d = α(w − x̃) (in place of x̃); w −= d.
            axpby(n, alpha, w, -alpha, x)
            axpy(n, -1, x, w)
            // x̃ += d, still under the lock.
            chunks { off, c in
                MPI_Accumulate(x + off, c, cmpi_float(), 0, MPI_Aint(off), c, cmpi_float(), cmpi_op_sum(), window)
            }
            MPI_Win_unlock(0, window)
        }
    }

    /// The center read, then the difference accumulated into it.
    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) {
        (comm.size > 1 ? 2 * count : 0, 0)
    }

    /// Collective: waits for every rank's last exchange, then every rank takes the center as
    /// its model, and the window is freed.
    public func finish(_ solver: Solver) throws {
        guard comm.size > 1, window != nil else { return }
        comm.barrier()
        let w = solver.net.weights
        if let x = hosted {
            lockSelf { copy(count, x, w.baseAddress!) }
        }
        comm.bcast(w, root: 0)
        free()
    }

    /// The center, on rank 0 (read under the window lock); nil on the other ranks.
    public func copyCenter() -> [Float]? {
        guard let x = hosted, window != nil else { return nil }
        var out = [Float](repeating: 0, count: count)
        lockSelf { out.withUnsafeMutableBufferPointer { copy(count, x, $0.baseAddress!) } }
        return out
    }
}
