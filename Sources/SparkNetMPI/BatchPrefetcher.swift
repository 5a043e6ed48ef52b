import Dispatch
import SparkNet

/// The prefetch machinery every data source shares: while the net computes on one batch, the
/// next one is made on a background queue into staging buffers. A source's `make` writes
/// samples `position ..< position + batchSize` into the buffers it is given; it runs on the
/// queue or on the caller's thread, never on both at once, so the source's own state (a
/// permutation, a cursor) needs no lock. `make` captures its source strongly: a job in flight
/// then keeps the source alive until it ends (an unowned source could be read by the job after
/// its deinit began).
final class BatchPrefetcher: @unchecked Sendable {
    typealias Make = @Sendable (_ position: Int, _ batchSize: Int, _ into: [UnsafeMutablePointer<Float>]) throws -> Void

    /// Floats per sample of each top.
    private let sampleSizes: [Int]
    private let queue: DispatchQueue
    private let pending = DispatchGroup()
    private var inFlight = false
    private var staging: [UnsafeMutablePointer<Float>] = []
    private var capacity = 0
    private var staged: (position: Int, batchSize: Int)?
    private var failure: Error?
    /// Seconds `serve` spent waiting for data that was not ready.
    private(set) var waitSeconds: Double = 0

    init(label: String, sampleSizes: [Int]) {
        self.sampleSizes = sampleSizes
        queue = DispatchQueue(label: label)
    }

    deinit {
        wait()
        staging.forEach { $0.deallocate() }
    }

    /// Waits for the batch in flight, if any.
    func wait() {
        if inFlight {
            pending.wait()
            inFlight = false
        }
    }

    /// Drops the staged batch (the source was repositioned).
    func reset() {
        wait()
        staged = nil
    }

    /// Writes batch (`position`, `batchSize`) into `tops`: the staged batch when it is that one
    /// (rethrowing what making it threw), else made now; then starts making the next one.
    /// `prepare` runs first, once no job is in flight (a streaming source's reads); its time
    /// counts as waiting.
    func serve(position: Int, batchSize: Int, into tops: [UnsafeMutablePointer<Float>],
               prepare: () throws -> Void = {}, make: @escaping Make) throws {
        let start = DispatchTime.now()
        defer { waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) * 1e-9 }
        wait()
        try prepare()
        if let s = staged, s.position == position, s.batchSize == batchSize {
            if let failure { throw failure }
            for t in 0..<tops.count {
                tops[t].update(from: staging[t], count: batchSize * sampleSizes[t])
            }
        } else {
            try make(position, batchSize, tops)
        }
        prefetch(position: position + batchSize, batchSize: batchSize, make: make)
    }

    private func prefetch(position: Int, batchSize: Int, make: @escaping Make) {
        if capacity < batchSize {
            staging.forEach { $0.deallocate() }
            staging = sampleSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, batchSize * $0)) }
            capacity = batchSize
        }
        staged = nil
        failure = nil
        inFlight = true
        pending.enter()
        queue.async { [self] in
            do { try make(position, batchSize, staging) } catch { failure = error }
            staged = (position, batchSize)
            pending.leave()
        }
    }
}
