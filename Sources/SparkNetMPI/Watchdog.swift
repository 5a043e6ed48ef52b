import CMPI
import Foundation
import SparkNet

/// Ends the job when a rank stops making progress (`train --stall-timeout`).
///
/// Under a watchdog every collective of the communicator is MPI's non-blocking form, polled by
/// `wait` (MPI_Test) against a deadline. A rank whose wait passes the timeout holds a census on
/// a private duplicate communicator: it asks every other rank (point-to-point) what it is
/// doing; a rank waiting in a collective answers from its polling loop, a stalled one
/// (SIGSTOP, stuck in computation or I/O) cannot. After a short grace the lowest rank that
/// answered (or the asker) prints one line naming the silent ranks and the operation the
/// others wait in, and ends the job with MPI_Abort. No thread and no extra traffic while
/// training runs normally: one pre-posted receive, tested while waiting.
public final class Watchdog {
    /// Seconds a rank may wait in one collective.
    public let timeout: Double
    /// What the trainer is doing (for example "the weight exchange after iteration 40"); the
    /// stall report names it with the MPI operation.
    public var phase = "training"

    private let census: MPI_Comm?
    private let rank: Int
    private let size: Int
    /// Every rank's host name (the node a stall report names beside the rank).
    let hosts: [String]
    private let ask = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    private var askRequest: MPI_Request? = nil
    private static let askTag: Int32 = 1, replyTag: Int32 = 2
    private static let replyBytes = 256

    /// Collective over `communicator` (it duplicates it for the census).
    public init(timeout: Double, communicator: Communicator) {
        self.timeout = timeout
        rank = communicator.rank
        size = communicator.size
        var dup: MPI_Comm? = nil
        if size > 1 { MPI_Comm_dup(communicator.comm, &dup) }
        census = dup
        hosts = communicator.hostNames()
        postAsk()
    }

    /// "rank 3 (node2)": a rank and the node it runs on.
    func named(_ rank: Int) -> String { "\(rank) (\(hosts[rank]))" }

    deinit {
        if askRequest != nil {
            MPI_Cancel(&askRequest)
            MPI_Wait(&askRequest, cmpi_status_ignore())
        }
        ask.deallocate()
    }

    private func postAsk() {
        guard size > 1 else { return }
        MPI_Irecv(ask, 1, cmpi_int64(), cmpi_any_source(), Self.askTag, census, &askRequest)
    }

    private func now() -> Double { ProcessInfo.processInfo.systemUptime }

    /// Completes `request`, answering census asks while it waits; past the timeout, holds the
    /// census. If every rank answers from this same exchange, the exchange is alive (a slow
    /// link: the segments of a large exchange complete one by one, and each completion starts a
    /// new wait), so the wait goes on; otherwise the job ends, naming the silent ranks.
    func wait(_ request: inout MPI_Request?, _ operation: () -> String) {
        var start = now()
        var done: Int32 = 0
        var polls = 0
        while true {
            MPI_Test(&request, &done, cmpi_status_ignore())
            if done != 0 { return }
            polls += 1
            if polls % 64 == 0 {
                let waiting = "\(phase) (\(operation()))"
                answerAsks(waiting)
                let waited = now() - start
                if waited > timeout {
                    let replies = holdCensus(waiting)
                    let here = Self.exchange(waiting)
                    if replies.count == size - 1 && replies.values.allSatisfy({ Self.exchange($0) == here }) {
                        start = now()
                        continue
                    }
                    stalled(waiting, waited: waited, replies: replies)
                }
                // Past a short spin, leave the cores to the ranks still computing.
                if waited > 0.05 { usleep(200) }
            }
            sched_yield()
        }
    }

    /// Answers every pending census ask with what this rank waits in.
    private func answerAsks(_ waiting: String) {
        guard size > 1 else { return }
        var done: Int32 = 0
        var status = MPI_Status()
        while true {
            MPI_Test(&askRequest, &done, &status)
            guard done != 0 else { return }
            let reply = Self.encode("\(rank)\t" + waiting)
            var r: MPI_Request? = nil
            // The buffer is leaked: the job is about to end.
            MPI_Isend(reply, Int32(Self.replyBytes), cmpi_byte(), status.MPI_SOURCE, Self.replyTag, census, &r)
            MPI_Request_free(&r)
            postAsk()
        }
    }

    private static func encode(_ text: String) -> UnsafeMutablePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: replyBytes)
        p.initialize(repeating: 0, count: replyBytes)
        for (i, b) in text.utf8.prefix(replyBytes - 1).enumerated() { p[i] = b }
        return p
    }

    /// What a rank waits in, without the segment it is at ("…, segment 3 of 7"): ranks in one
    /// exchange complete its segments at different moments.
    static func exchange(_ waiting: String) -> String {
        guard let r = waiting.range(of: ", segment ") else { return waiting }
        let rest = waiting[r.upperBound...].drop { $0 != ")" }
        return String(waiting[..<r.lowerBound]) + rest
    }

    private var grace: Double { min(max(timeout / 2, 1), 5) }

    /// Asks every other rank what it waits in; returns the answers that arrive within the grace.
    private func holdCensus(_ waiting: String) -> [Int: String] {
        var replies: [Int: String] = [:]
        var receives: [Int: (MPI_Request?, UnsafeMutablePointer<UInt8>)] = [:]
        for peer in 0..<size where peer != rank {
            let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.replyBytes)
            var recv: MPI_Request? = nil
            MPI_Irecv(buf, Int32(Self.replyBytes), cmpi_byte(), Int32(peer), Self.replyTag, census, &recv)
            receives[peer] = (recv, buf)
            let question = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
            question.pointee = Int64(rank)
            var send: MPI_Request? = nil
            MPI_Isend(question, 1, cmpi_int64(), Int32(peer), Self.askTag, census, &send)
            MPI_Request_free(&send)
        }
        let asked = now()
        while now() - asked < grace && replies.count < size - 1 {
            for (peer, var entry) in receives where replies[peer] == nil {
                var done: Int32 = 0
                MPI_Test(&entry.0, &done, cmpi_status_ignore())
                receives[peer] = entry
                if done != 0 {
                    let text = String(cBuffer: UnsafeBufferPointer(start: entry.1, count: Self.replyBytes))
                    replies[peer] = String(text.drop { $0 != "\t" }.dropFirst())
                }
            }
            answerAsks(waiting)
            usleep(1000)
        }
        // Unanswered receives never complete; their buffers stay allocated (rare, and small).
        for (peer, entry) in receives where replies[peer] != nil { entry.1.deallocate() }
        return replies
    }

    /// The report and MPI_Abort by the lowest live rank.
    private func stalled(_ waiting: String, waited: Double, replies: [Int: String]) -> Never {
        // The lowest rank that is alive reports; the others keep answering, in case it cannot.
        let reporter = ([rank] + replies.keys).min()!
        if reporter != rank {
            let until = now() + 2 * grace
            while now() < until {
                answerAsks(waiting)
                usleep(1000)
            }
        }
        let silent = (0..<size).filter { $0 != rank && replies[$0] == nil }
        let live = ([rank] + replies.keys).sorted()
        func list(_ ranks: [Int]) -> String {
            (ranks.count == 1 ? "rank " : "ranks ") + ranks.map(named).joined(separator: ", ")
        }
        let seconds = String(format: "%.1f", waited)
        var message: String
        if silent.isEmpty {
            message = "rank \(named(rank)) waited \(seconds) s (--stall-timeout \(fmtSeconds(timeout))) in \(waiting), but every rank answered: the ranks are in different operations"
        } else {
            message = "\(list(silent)) made no progress for \(seconds) s (--stall-timeout \(fmtSeconds(timeout))): \(list(live)) waited in \(waiting)"
        }
        let elsewhere = replies.filter { $0.value != waiting }.sorted { $0.key < $1.key }
        for (peer, what) in elsewhere { message += "; rank \(named(peer)) waited in \(what)" }
        FileHandle.standardError.write(Data("sparknet-mpi: error: \(message); ending the job\n".utf8))
        MPIEnvironment.abort(code: 1)
    }

    private func fmtSeconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(s)
    }
}
