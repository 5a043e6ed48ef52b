import CMPI
import Foundation
import Synchronization

/// The signals `train` acts on: SIGTERM, SIGINT and SIGUSR1 ask for a snapshot and a stop,
/// SIGUSR2 for a snapshot only. The handlers only set atomic flags (async-signal-safe); the
/// trainer reads them at iteration boundaries (`StopRequests`). A second SIGINT or SIGTERM
/// while a stop is pending kills the process the default way, so a job stuck outside the
/// training loop can still be interrupted.
public enum StopSignals {
    /// The exit status of a run that stopped on a signal after writing a complete snapshot
    /// (sysexits' EX_TEMPFAIL: resumable, try again).
    public static let stoppedStatus: Int32 = 75

    /// What a signal asked for.
    public struct Request: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Snapshot, then stop (SIGTERM, SIGINT, SIGUSR1).
        public static let stop = Request(rawValue: 1)
        /// Snapshot, then go on (SIGUSR2).
        public static let snapshot = Request(rawValue: 2)
    }

    static let pending = Atomic<Int>(0)
    /// The last signal received (for the log).
    static let lastSignal = Atomic<Int32>(0)

    /// Installs the handlers (once, before training).
    public static func install() {
        // Touch the globals now: their lazy initialisation is not async-signal-safe.
        _ = pending.load(ordering: .relaxed)
        _ = lastSignal.load(ordering: .relaxed)
        for sig in [SIGTERM, SIGINT, SIGUSR1, SIGUSR2] {
            signal(sig, { sig in
                let bit = sig == SIGUSR2 ? Request.snapshot.rawValue : Request.stop.rawValue
                StopSignals.lastSignal.store(sig, ordering: .relaxed)
                let before = StopSignals.pending.bitwiseOr(bit, ordering: .relaxed).oldValue
                if (sig == SIGINT || sig == SIGTERM) && before & Request.stop.rawValue != 0 {
                    signal(sig, SIG_DFL)
                    raise(sig)
                }
            })
        }
    }

    /// The requests that arrived since the last call (and clears them), with the last signal.
    static func take() -> (Request, Int32) {
        let r = Request(rawValue: pending.exchange(0, ordering: .relaxed))
        return (r, lastSignal.load(ordering: .relaxed))
    }

    /// Asks this process for `request` as the signal `signal` would (tests).
    public static func post(_ request: Request, signal: Int32) {
        lastSignal.store(signal, ordering: .relaxed)
        pending.bitwiseOr(request.rawValue, ordering: .relaxed)
    }

    /// SIGTERM, SIGUSR1, ... for a signal number.
    public static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        default: return "signal \(sig)"
        }
    }
}

/// The trainer's side of stop signals: every rank must act on a request at the same iteration,
/// so each rank's requests travel in a non-blocking allreduce (MPI_Iallreduce, MAX) posted at
/// every iteration boundary and completed `lag` boundaries later; its result, the same on every
/// rank, says whether to snapshot or stop there. No barrier per iteration: a rank waits only if
/// it is `lag` iterations ahead of the slowest one.
final class StopRequests {
    /// Boundaries between posting a rank's requests and acting on them.
    static let lag = 4

    private let comm: Communicator
    /// Outstanding allreduces, oldest first: [stop, snapshot] sent and received, each encoded
    /// as 0 or signal·2^16 + rank + 1 (so the log can say who got which signal).
    private var queue: [(request: MPI_RequestBox, buffer: UnsafeMutablePointer<Int64>, iter: Int)] = []

    /// Seconds spent waiting for the flags' allreduces: a rank `lag` iterations ahead of the
    /// slowest waits here, so the trainer counts this as waiting for ranks, not as compute.
    private(set) var waitSeconds = 0.0

    init(communicator: Communicator) { self.comm = communicator }

    deinit { for q in queue { q.buffer.deallocate() } }

    /// What was agreed at this boundary: the request, and "SIGTERM on rank 1" for the log.
    struct Decision {
        var request: StopSignals.Request
        var cause: String
    }

    /// Called at every iteration boundary on every rank. `last` drains every outstanding
    /// allreduce (training ends here).
    /// `lag` replaces `Self.lag` (0: decide now, at a point all ranks reach together).
    func atBoundary(iter: Int, last: Bool, lag: Int = StopRequests.lag) -> Decision? {
        let (mine, sig) = StopSignals.take()
        let code = Self.code(signal: sig, rank: comm.rank)
        let values = [mine.contains(.stop) ? code : 0, mine.contains(.snapshot) ? code : 0]
        if comm.size == 1 { return decision(values) }
        let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: 4)
        buffer[0] = values[0]
        buffer[1] = values[1]
        let box = MPI_RequestBox()
        comm.startAllreduceMax(buffer, buffer + 2, count: 2, request: &box.request)
        queue.append((box, buffer, iter))
        var agreed: [Int64] = [0, 0]
        while queue.count > (last ? 0 : lag) {
            let v = completeOldest()
            agreed = [max(agreed[0], v[0]), max(agreed[1], v[1])]
        }
        return decision(agreed)
    }

    /// Completes every outstanding allreduce (all ranks stop at the same boundary).
    func drain() {
        while !queue.isEmpty { _ = completeOldest() }
    }

    /// Waits for the oldest allreduce; returns its agreed [stop, snapshot].
    private func completeOldest() -> [Int64] {
        let q = queue.removeFirst()
        let t0 = DispatchTime.now().uptimeNanoseconds
        comm.wait(&q.request.request, "MPI_Iallreduce of the signal flags posted after iteration \(q.iter)")
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        defer { q.buffer.deallocate() }
        return [q.buffer[2], q.buffer[3]]
    }

    private func decision(_ v: [Int64]) -> Decision? {
        var r: StopSignals.Request = []
        if v[0] != 0 { r.insert(.stop) }
        if v[1] != 0 { r.insert(.snapshot) }
        guard let code = [v[0], v[1]].first(where: { $0 != 0 }) else { return nil }
        return Decision(request: r, cause: Self.cause(code, ranks: comm.size))
    }

    /// A request as it travels between ranks: signal·2^16 + rank + 1 (never 0; the MAX of
    /// several is one of them).
    static func code(signal: Int32, rank: Int) -> Int64 { Int64(signal) << 16 | Int64(rank + 1) }

    /// "SIGTERM on rank 1" (just "SIGTERM" on one rank) for a `code`.
    static func cause(_ code: Int64, ranks: Int) -> String {
        let sig = Int32(code >> 16), rank = Int(code & 0xffff) - 1
        return "\(StopSignals.name(sig))\(ranks > 1 ? " on rank \(rank)" : "")"
    }
}

/// An MPI request with a stable address (the queue's tuples move).
final class MPI_RequestBox {
    var request: MPI_Request? = nil
}

/// The error that unwinds training after a stop on request: every rank has written its part of
/// a complete snapshot. The CLI logs it and exits with `StopSignals.stoppedStatus`.
public struct TrainingStopped: Error, CustomStringConvertible {
    public let iteration: Int
    public let state: String
    public let cause: String
    public var description: String {
        "Stopped at iteration \(iteration) on \(cause); snapshot \(state) (resume with --snapshot auto)"
    }
}
