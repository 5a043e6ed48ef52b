import CMPI
import SparkNet

/// The gradient allreduce of `--sync gradient`, started during backward (PyTorch DDP's
/// buckets, Caffe's `layer_wise_reduce`): as soon as backward has passed every layer that
/// writes a bucket's gradients, that bucket's segments are posted, and MPI is given a chance to
/// move them after every later layer. `finish` posts what is left and waits for all of it.
///
/// Between `begin` and `finish` no other collective may be started on the communicator: how
/// many segments a rank has posted by then depends on how fast earlier ones completed, and MPI
/// matches a communicator's collectives by the order each rank starts them.
///
/// The sum is bit-identical to `Communicator.allreduceSum` of the whole arena: the arena is cut
/// into the same segments (`Communicator.segmentElements` floats, same offsets and counts), each
/// is one MPI_Iallreduce over the same data, and a bucket is only a run of whole segments. Only
/// the order in which segments are posted changes, and it is the same on every rank (it
/// follows the net's layers), as MPI requires.
public final class OverlappedAllreduce {
    /// The communicator the sums go over.
    public let comm: Communicator
    /// Segments per bucket.
    public let segmentsPerBucket: Int
    /// Number of buckets.
    public var bucketCount: Int { (segments.count + segmentsPerBucket - 1) / segmentsPerBucket }

    private let base: UnsafeMutablePointer<Float>
    private let total: Int
    /// [offset, count) of each segment, in arena order.
    private let segments: [(offset: Int, count: Int)]
    /// The layer after whose backward each bucket's gradients are final.
    private let bucketReadyLayer: [Int]
    /// Buckets in the order they become ready (highest ready layer first: backward runs from the
    /// last layer down), ties in arena order from the end.
    private let bucketOrder: [Int]
    private var nextBucket = 0
    /// Segments of ready buckets not yet posted, in posting order.
    private var queue: [Int] = []
    private var queueHead = 0
    private var requests: [MPI_Request?]
    /// Posted segments in posting order; `completedHead` of them are known complete.
    private var posted: [Int] = []
    private var completedHead = 0
    /// Segments posted at once, at most.
    private let inFlight: Int
    /// Whether this pass has started (between `begin` and `finish`).
    private var active = false

    /// Plans the buckets of `net`'s gradient arena: `bucketElements` floats each, rounded up to
    /// whole segments.
    public init(net: Net, communicator: Communicator, bucketElements: Int) {
        comm = communicator
        base = net.gradients.baseAddress!
        total = net.parameterCount
        let step = max(1, min(Communicator.segmentElements, Communicator.chunkLimit))
        let n = total
        segments = stride(from: 0, to: n, by: step).map { ($0, min(step, n - $0)) }
        segmentsPerBucket = max(1, (bucketElements + step - 1) / step)
        inFlight = max(1, Communicator.segmentsInFlight)
        requests = [MPI_Request?](repeating: nil, count: segments.count)
        // Each float's ready layer is its param's; a bucket is ready at the lowest of its floats'.
        var ready = [Int](repeating: Int.max, count: (segments.count + segmentsPerBucket - 1) / segmentsPerBucket)
        let bucketFloats = step * segmentsPerBucket
        for (p, offset) in net.paramOffsets.enumerated() {
            let count = net.learnableParams[p].count
            guard count > 0 else { continue }
            for b in (offset / bucketFloats)...((offset + count - 1) / bucketFloats) {
                ready[b] = min(ready[b], net.paramLastBackwardLayer[p])
            }
        }
        bucketReadyLayer = ready
        bucketOrder = ready.indices.sorted { ready[$0] != ready[$1] ? ready[$0] > ready[$1] : $0 > $1 }
    }

    /// Starts a pass: nothing is posted until a bucket is ready.
    public func begin() {
        nextBucket = 0
        queue.removeAll(keepingCapacity: true)
        queueHead = 0
        posted.removeAll(keepingCapacity: true)
        completedHead = 0
        active = true
    }

    /// Backward has passed layer `layer`: posts the buckets that are now final, then lets MPI
    /// progress the posted ones.
    public func layerDone(_ layer: Int) {
        guard active else { return }
        while nextBucket < bucketOrder.count && bucketReadyLayer[bucketOrder[nextBucket]] >= layer {
            enqueue(bucketOrder[nextBucket])
            nextBucket += 1
        }
        progress()
    }

    private func enqueue(_ bucket: Int) {
        let first = bucket * segmentsPerBucket
        queue.append(contentsOf: first..<min(first + segmentsPerBucket, segments.count))
    }

    /// Completes posted segments that MPI has finished (in posting order) and posts queued ones
    /// while fewer than `inFlight` are outstanding.
    private func progress() {
        while true {
            var done: Int32 = 0
            while completedHead < posted.count {
                MPI_Test(&requests[posted[completedHead]], &done, cmpi_status_ignore())
                if done == 0 { break }
                completedHead += 1
            }
            guard queueHead < queue.count, posted.count - completedHead < inFlight else { return }
            post(queue[queueHead])
            queueHead += 1
        }
    }

    private func post(_ s: Int) {
        let (offset, count) = segments[s]
        MPI_Iallreduce(cmpi_in_place(), base + offset, Int32(count), cmpi_float(), cmpi_op_sum(), comm.comm, &requests[s])
        posted.append(s)
    }

    /// Posts every bucket not posted yet and waits for every segment (under the communicator's
    /// watchdog, if any). After it the arena holds the sum over ranks (also when no pass was
    /// begun: then everything is posted here).
    public func finish() {
        if !active { begin() }
        active = false
        while nextBucket < bucketOrder.count {
            enqueue(bucketOrder[nextBucket])
            nextBucket += 1
        }
        let n = segments.count
        while completedHead < posted.count || queueHead < queue.count {
            while queueHead < queue.count && posted.count - completedHead < inFlight {
                post(queue[queueHead])
                queueHead += 1
            }
            let s = posted[completedHead]
            comm.wait(&requests[s], n > 1 ? "MPI_Iallreduce of \(total) floats, segment \(s + 1) of \(n)" : "MPI_Iallreduce of \(total) floats")
            completedHead += 1
        }
    }
}
