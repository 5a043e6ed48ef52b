import CMPI
import Foundation
import SparkNet

/// The ranks of the job, and the few collectives distribution needs.
///
/// It works on a private duplicate of MPI_COMM_WORLD, so its collectives never match those
/// another library (parallel HDF5) issues on the world communicator. Every collective must be
/// called by every rank, in the same order. MPI's default error handler ends the job on an MPI
/// error, so these calls do not throw. They are MPI's non-blocking collectives, completed by
/// `wait`, so that a `Watchdog` can give up on a rank that never arrives.
///
/// MPI counts are `Int32`: buffers longer than `Int32.max` elements travel in chunks.
public final class Communicator: @unchecked Sendable {
    /// The communicator over every rank of the job (a duplicate of MPI_COMM_WORLD).
    public static let world = Communicator()

    /// This process's rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// Whether this is rank 0, the rank that logs and writes files.
    public var isRoot: Bool { rank == 0 }
    /// The duplicated MPI communicator.
    public let comm: MPI_Comm?

    /// Set during training (`--stall-timeout`): every collective then waits with a deadline and
    /// ends the job, naming the stalled rank, when it passes.
    public var watchdog: Watchdog?

    /// Elements per MPI call; `chunkLimit` only changes in tests of the chunking.
    nonisolated(unsafe) static var chunkLimit = Int(Int32.max)

    init() {
        MPIEnvironment.initialize()
        rank = MPIEnvironment.rank
        size = MPIEnvironment.size
        // A singleton never communicates; skipping the (collective) duplicate keeps this
        // initialiser free of MPI calls that could race another thread's (tests run in parallel).
        if size > 1 {
            var dup: MPI_Comm? = nil
            MPI_Comm_dup(cmpi_comm_world(), &dup)
            comm = dup
        } else {
            comm = cmpi_comm_world()
        }
    }

    /// Floats per segment of a large exchange. Segments are separate non-blocking collectives,
    /// `segmentsInFlight` at a time: each one's completion is progress the `Watchdog` sees, so
    /// an exchange over a slow link that still moves data is not taken for a stall (at 1 Mbit/s
    /// a 64 KiB segment completes about every 0.5 s), and little data queues ahead of the
    /// watchdog's census messages on the same connections. The segmentation is the same on every
    /// rank and every topology, so it does not change which numbers the ranks compute.
    nonisolated(unsafe) public static var segmentElements = 1 << 14
    /// Segments of an exchange in flight at once (they keep the link busy between completions).
    nonisolated(unsafe) public static var segmentsInFlight = 4

    /// Starts `start(offset, count, &request)` over `[0, n)` in segments, at most
    /// `segmentsInFlight` outstanding, and waits for them all in order.
    private func segmented(_ n: Int, _ operation: @autoclosure () -> String,
                           _ start: (Int, Int32, inout MPI_Request?) -> Void) {
        let step = max(1, min(Self.segmentElements, Self.chunkLimit))
        let segments = (n + step - 1) / step
        var requests = [MPI_Request?](repeating: nil, count: segments)
        var posted = 0
        for s in 0..<segments {
            while posted < segments && posted < s + Self.segmentsInFlight {
                let off = posted * step
                start(off, Int32(min(step, n - off)), &requests[posted])
                posted += 1
            }
            wait(&requests[s], segments > 1 ? "\(operation()), segment \(s + 1) of \(segments)" : operation())
        }
    }

    /// Calls `body(offset, count)` over `[0, n)` in pieces MPI can count.
    private func chunks(_ n: Int, _ body: (Int, Int32) -> Void) {
        var offset = 0
        repeat {
            let count = min(n - offset, Self.chunkLimit)
            body(offset, Int32(count))
            offset += count
        } while offset < n
    }

    // MARK: Float buffers (weights, gradients, history)

    /// Replaces `buffer` on every rank by the element-wise sum over all ranks (in place).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        segmented(buffer.count, "MPI_Iallreduce of \(buffer.count) floats") { off, n, r in
            MPI_Iallreduce(cmpi_in_place(), base + off, n, cmpi_float(), cmpi_op_sum(), comm, &r)
        }
    }

    /// Sums `buffer` over all ranks into `root`'s `buffer` (in place there); the other ranks'
    /// buffers are left unchanged.
    public func reduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        segmented(buffer.count, "MPI_Ireduce of \(buffer.count) floats to rank \(root)") { off, n, r in
            if rank == root {
                MPI_Ireduce(cmpi_in_place(), base + off, n, cmpi_float(), cmpi_op_sum(), Int32(root), comm, &r)
            } else {
                MPI_Ireduce(base + off, nil, n, cmpi_float(), cmpi_op_sum(), Int32(root), comm, &r)
            }
        }
    }

    /// Copies `root`'s `buffer` into every rank's `buffer`.
    public func bcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        segmented(buffer.count, "MPI_Ibcast of \(buffer.count) floats from rank \(root)") { off, n, r in
            MPI_Ibcast(base + off, n, cmpi_float(), Int32(root), comm, &r)
        }
    }

    // MARK: Small values (metrics, test sums, agreement)

    /// An element-wise reduction over ranks.
    public enum Operation { case sum, max, min }

    private func op(_ o: Operation) -> MPI_Op {
        switch o {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }

    /// The element-wise `operation` of `values` over all ranks (same count on every rank).
    public func allreduce(_ values: [Double], _ operation: Operation = .sum) -> [Double] {
        guard size > 1, !values.isEmpty else { return values }
        var v = values
        v.withUnsafeMutableBufferPointer { b in
            var r: MPI_Request? = nil
            MPI_Iallreduce(cmpi_in_place(), b.baseAddress, Int32(b.count), cmpi_double(), op(operation), comm, &r)
            wait(&r, "MPI_Iallreduce of \(b.count) doubles")
        }
        return v
    }

    /// `operation` of one integer over all ranks.
    public func allreduce(_ value: Int, _ operation: Operation = .sum) -> Int {
        guard size > 1 else { return value }
        var v = Int64(value)
        var r: MPI_Request? = nil
        MPI_Iallreduce(cmpi_in_place(), &v, 1, cmpi_int64(), op(operation), comm, &r)
        wait(&r, "MPI_Iallreduce of one integer")
        return Int(v)
    }

    /// Every rank's `value`, indexed by rank.
    public func allgather(_ value: UInt64) -> [UInt64] {
        guard size > 1 else { return [value] }
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        all.withUnsafeMutableBufferPointer { b in
            var r: MPI_Request? = nil
            MPI_Iallgather(&mine, 1, cmpi_uint64(), b.baseAddress, 1, cmpi_uint64(), comm, &r)
            wait(&r, "MPI_Iallgather of one integer")
        }
        return all
    }

    /// Copies `root`'s bytes to every rank (the length travels first).
    public func bcast(_ bytes: [UInt8], root: Int = 0) -> [UInt8] {
        guard size > 1 else { return bytes }
        var n = Int64(bytes.count)
        var r: MPI_Request? = nil
        MPI_Ibcast(&n, 1, cmpi_int64(), Int32(root), comm, &r)
        wait(&r, "MPI_Ibcast of a length")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        out.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            chunks(b.count) { off, c in
                MPI_Ibcast(base + off, c, cmpi_byte(), Int32(root), comm, &r)
                wait(&r, "MPI_Ibcast of \(b.count) bytes")
            }
        }
        return out
    }

    /// Every rank's host name (the node it runs on), indexed by rank. Collective.
    public func hostNames() -> [String] {
        let width = 64
        var name = [CChar](repeating: 0, count: 256)
        var mine = [UInt8](repeating: 0, count: width)
        if gethostname(&name, name.count) == 0 {
            let bytes = Array(String(cBuffer: name).utf8.prefix(width - 1))
            mine.replaceSubrange(0..<bytes.count, with: bytes)
        }
        var all = mine
        if size > 1 {
            all = [UInt8](repeating: 0, count: width * size)
            all.withUnsafeMutableBufferPointer { b in
                var r: MPI_Request? = nil
                MPI_Iallgather(&mine, Int32(width), cmpi_byte(), b.baseAddress, Int32(width), cmpi_byte(), comm, &r)
                wait(&r, "MPI_Iallgather of the host names")
            }
        }
        return (0..<size).map { r in String(cBuffer: all[(r * width)..<((r + 1) * width)]) }
    }

    /// Blocks until every rank reaches it.
    public func barrier() {
        guard size > 1 else { return }
        var r: MPI_Request? = nil
        MPI_Ibarrier(comm, &r)
        wait(&r, "MPI_Ibarrier")
    }

    /// Waits for a non-blocking operation of this communicator: under the watchdog with its
    /// deadline, otherwise in MPI_Wait. `operation` names it in a stall report.
    public func wait(_ request: inout MPI_Request?, _ operation: @autoclosure () -> String) {
        if let watchdog {
            watchdog.wait(&request, operation)
        } else {
            MPI_Wait(&request, cmpi_status_ignore())
        }
    }

    /// Starts an element-wise MAX of `count` 64-bit integers from `send` into `receive`
    /// (MPI_Iallreduce); complete it with `wait`. Both buffers must live until then.
    func startAllreduceMax(_ send: UnsafeMutablePointer<Int64>, _ receive: UnsafeMutablePointer<Int64>,
                           count: Int, request: inout MPI_Request?) {
        MPI_Iallreduce(send, receive, Int32(count), cmpi_int64(), cmpi_op_max(), comm, &request)
    }

    /// Like `allreduce(_:_:)` of one integer, but gives up after `timeout` seconds if some rank
    /// never joins (it is stuck elsewhere or dead). Returns nil on timeout; the caller should
    /// then end the job, since the posted request can never complete.
    public func allreduce(_ value: Int, _ operation: Operation, timeout: Double) -> Int? {
        guard size > 1 else { return value }
        // The buffers must outlive the request, which on timeout never completes: leak them.
        let send = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        let recv = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        send.pointee = Int64(value)
        var request: MPI_Request? = nil
        MPI_Iallreduce(send, recv, 1, cmpi_int64(), op(operation), comm, &request)
        let deadline = Date().addingTimeInterval(timeout.isFinite ? timeout : 1e9)
        var done: Int32 = 0
        while true {
            MPI_Test(&request, &done, cmpi_status_ignore())
            if done != 0 { break }
            if Date() > deadline { return nil }
            usleep(1000)
        }
        let result = Int(recv.pointee)
        send.deallocate()
        recv.deallocate()
        return result
    }

    /// Ends the whole job (every rank) with `code`.
    public func abort(code: Int32 = 1) -> Never {
        MPIEnvironment.abort(code: code)
    }
}
