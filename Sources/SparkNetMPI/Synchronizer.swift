import SparkNet

/// How ranks combine their work (`train --sync`, DESIGN §4). On one rank every mode is plain
/// training.
public enum SyncMode: String, CaseIterable, Sendable {
    /// SparkNet: every τ steps, every rank takes the mean of all weights (one allreduce).
    case average
    /// The same mean through rank 0 (reduce, then broadcast): the Spark driver's path.
    case master
    /// Gradients are averaged before every update: one process with batch K·b.
    case gradient
    /// Elastic averaging with a center replicated on every rank (Zhang et al. 2015).
    case easgd
    /// Elastic averaging without a barrier: the center lives on rank 0 (MPI one-sided).
    case asyncEASGD = "async-easgd"
}

/// Combines the ranks' weights or gradients. The trainer calls `start` once the ranks hold the
/// same initial weights, `beforeUpdate` after every forward/backward, `prepareRoundEnd` before
/// an update that ends a round, `endRound` when a round ends, and `finish` after the last
/// round. All of them run on every rank.
public protocol Synchronizer: AnyObject {
    var mode: SyncMode { get }
    /// Whether `endRound` is a collective (every rank ends its rounds together).
    var roundsAreCollective: Bool { get }
    /// Whether every rank holds the same weights after the last `endRound`.
    var syncsWeights: Bool { get }
    /// Whether the mode keeps a center variable (EASGD), which snapshots save.
    var hasCenter: Bool { get }

    /// Called once every rank holds the same initial weights. `center` (EASGD, on resume) is
    /// the saved center variable, the same on every rank; nil starts it at the weights.
    func start(_ solver: Solver, center: [Float]?) throws
    func beforeUpdate(_ solver: Solver) throws
    /// Called right before an update after which the round surely ends (the τ-th of the round
    /// or the last of training), on every rank alike; `endRound` follows that update. Lets the
    /// synchronizer fold work into the update (`Solver.nextUpdateScale`). A round can also end
    /// without it (on time), so `endRound` must handle both.
    func prepareRoundEnd(_ solver: Solver)
    func endRound(_ solver: Solver) throws
    /// Ends training: for EASGD the center becomes every rank's model.
    func finish(_ solver: Solver) throws
    /// A copy of the center variable (EASGD); for async-easgd only rank 0 holds it.
    func copyCenter() -> [Float]?
    /// Floats this rank exchanges in one `endRound` and in one `beforeUpdate` (the buffer's
    /// size, as nccl-tests count a collective's bytes; one-sided: what it reads plus writes).
    func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int)
}

extension Synchronizer {
    public var hasCenter: Bool { false }
    public var roundsAreCollective: Bool { true }
    public func start(_ solver: Solver, center: [Float]?) throws {}
    public func copyCenter() -> [Float]? { nil }
    public func beforeUpdate(_ solver: Solver) throws {}
    public func prepareRoundEnd(_ solver: Solver) {}
    public func endRound(_ solver: Solver) throws {}
    public func finish(_ solver: Solver) throws {}
    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) { (0, 0) }
}

/// Builds the synchronizer of `mode`. `alpha` is EASGD's moving rate (default 0.9/K);
/// `averageHistory` also averages the solver history (momentum) in average and master mode;
/// `bucketElements` > 0 overlaps gradient mode's allreduce with backward, in buckets that size.
public func makeSynchronizer(_ mode: SyncMode, communicator: Communicator, alpha: Double? = nil,
                             averageHistory: Bool = false, bucketElements: Int = 0) throws -> Synchronizer {
    let k = communicator.size
    let a = Float(alpha ?? 0.9 / Double(k))
    if mode == .easgd || mode == .asyncEASGD {
        try require(a > 0 && a <= 1, "--alpha must be in (0, 1], got \(a)")
    }
    switch mode {
    case .average: return ModelAverage(communicator, averageHistory: averageHistory)
    case .master: return MasterAverage(communicator, averageHistory: averageHistory)
    case .gradient: return GradientAverage(communicator, bucketElements: bucketElements)
    case .easgd: return ElasticAverage(communicator, alpha: a)
    case .asyncEASGD: return AsyncElasticAverage(communicator, alpha: a)
    }
}

/// `--sync average`: w ← Σ_k w_k / K, by one in-place MPI_Allreduce on the weight arena. The
/// 1/K is applied by the round's last update (`prepareRoundEnd`), or by a separate pass when a
/// round ends without one. The history (momentum) stays local unless `averageHistory`; it is
/// summed and scaled, since the update rule writes it apart from the weights.
public final class ModelAverage: Synchronizer {
    public let mode = SyncMode.average
    public let syncsWeights = true
    let comm: Communicator
    let averageHistory: Bool
    private var prescale = WeightPrescale()

    public init(_ comm: Communicator, averageHistory: Bool) {
        self.comm = comm
        self.averageHistory = averageHistory
    }

    public func prepareRoundEnd(_ solver: Solver) {
        prescale.request(solver, ranks: comm.size)
    }

    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) {
        (comm.size > 1 ? averagedBuffers(solver, withHistory: averageHistory).reduce(0) { $0 + $1.count } : 0, 0)
    }

    public func endRound(_ solver: Solver) throws {
        let prescaled = prescale.take(solver)
        guard comm.size > 1 else { return }
        for (i, buffer) in averagedBuffers(solver, withHistory: averageHistory).enumerated() {
            comm.allreduceSum(buffer)
            if i > 0 || !prescaled { scal(buffer.count, 1 / Float(comm.size), buffer.baseAddress!) }
        }
    }
}

/// `--sync master`: the same mean as `average`, gathered on rank 0 (MPI_Reduce), scaled there
/// unless the round's last update did it (as in `average`), then sent back (MPI_Bcast). Twice
/// the latency of an allreduce; kept to compare with SparkNet's driver-based exchange.
public final class MasterAverage: Synchronizer {
    public let mode = SyncMode.master
    public let syncsWeights = true
    let comm: Communicator
    let averageHistory: Bool
    private var prescale = WeightPrescale()

    public init(_ comm: Communicator, averageHistory: Bool) {
        self.comm = comm
        self.averageHistory = averageHistory
    }

    public func prepareRoundEnd(_ solver: Solver) {
        prescale.request(solver, ranks: comm.size)
    }

    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) {
        (comm.size > 1 ? averagedBuffers(solver, withHistory: averageHistory).reduce(0) { $0 + $1.count } : 0, 0)
    }

    public func endRound(_ solver: Solver) throws {
        let prescaled = prescale.take(solver)
        guard comm.size > 1 else { return }
        for (i, buffer) in averagedBuffers(solver, withHistory: averageHistory).enumerated() {
            comm.reduceSum(buffer, root: 0)
            if comm.isRoot && (i > 0 || !prescaled) { scal(buffer.count, 1 / Float(comm.size), buffer.baseAddress!) }
            comm.bcast(buffer, root: 0)
        }
    }
}

/// `--sync gradient`: before every update, the gradient arena becomes the mean over ranks, so
/// K ranks with batch b step like one process with batch K·b (Horovod, DDP). With
/// `bucketElements` > 0 the sum starts during the last backward pass of an iteration
/// (`OverlappedAllreduce`), with the same result bit for bit.
public final class GradientAverage: Synchronizer {
    public let mode = SyncMode.gradient
    public let syncsWeights = true
    let comm: Communicator
    let bucketElements: Int
    private(set) var overlap: OverlappedAllreduce?
    /// Backward passes since the last update (an iteration makes iter_size of them; the last
    /// one's gradients are final).
    private var passes = 0

    public init(_ comm: Communicator, bucketElements: Int = 0) {
        self.comm = comm
        self.bucketElements = bucketElements
    }

    public func start(_ solver: Solver, center: [Float]?) throws {
        guard comm.size > 1, bucketElements > 0 else { return }
        let net = solver.net
        let sum = OverlappedAllreduce(net: net, communicator: comm, bucketElements: bucketElements)
        overlap = sum
        let passesPerIteration = Int(solver.param.iterSize), top = net.layers.count - 1
        passes = 0
        net.afterBackwardLayer = { [unowned self, unowned sum] l in
            if self.passes == passesPerIteration - 1 {
                if l == top { sum.begin() }
                sum.layerDone(l)
            }
            if l == 0 { self.passes += 1 }
        }
    }

    public func beforeUpdate(_ solver: Solver) throws {
        guard comm.size > 1 else { return }
        let g = solver.net.gradients
        if let overlap {
            overlap.finish()
            passes = 0
        } else {
            comm.allreduceSum(g)
        }
        scal(g.count, 1 / Float(comm.size), g.baseAddress!)
    }

    public func finish(_ solver: Solver) throws {
        solver.net.afterBackwardLayer = nil
    }

    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) {
        (0, comm.size > 1 ? solver.net.gradients.count : 0)
    }
}

/// `--sync easgd` (Zhang et al. 2015, eqs. 5–6, synchronous): every rank keeps a copy of the
/// center x̃. At the end of a round, d_k = α(w_k − x̃); w_k ← w_k − d_k; x̃ ← x̃ + Σ_k d_k
/// (one allreduce of d). The copies of x̃ stay identical because every rank adds the same sum.
public final class ElasticAverage: Synchronizer {
    public let mode = SyncMode.easgd
    public let syncsWeights = false
    /// On one rank there is no center: training is plain SGD.
    public var hasCenter: Bool { comm.size > 1 }
    let comm: Communicator
    let alpha: Float
    private var x: [Float] = []
    private var d: [Float] = []

    public init(_ comm: Communicator, alpha: Float) {
        self.comm = comm
        self.alpha = alpha
    }

    public func start(_ solver: Solver, center: [Float]?) throws {
        let w = solver.net.weights
        if let center {
            try require(center.count == w.count, "easgd: the saved center has \(center.count) values, the net \(w.count)")
            x = center
        } else {
            x = Array(w)
        }
        d = [Float](repeating: 0, count: w.count)
    }

    public func endRound(_ solver: Solver) throws {
        guard comm.size > 1 else { return }
        let w = solver.net.weights.baseAddress!, n = solver.net.weights.count
        try require(x.count == n, "easgd: endRound before start")
        x.withUnsafeMutableBufferPointer { xb in
            d.withUnsafeMutableBufferPointer { db in
                let x = xb.baseAddress!, d = db.baseAddress!
                // d = α(w − x̃); w −= d.
                copy(n, w, d)
                axpy(n, -1, x, d)
                scal(n, alpha, d)
                axpy(n, -1, d, w)
                // x̃ += Σ_k d_k.
                comm.allreduceSum(db)
                axpy(n, 1, d, x)
            }
        }
    }

    public func finish(_ solver: Solver) throws {
        guard comm.size > 1, x.count == solver.net.weights.count else { return }
        x.withUnsafeBufferPointer { copy($0.count, $0.baseAddress!, solver.net.weights.baseAddress!) }
    }

    public func copyCenter() -> [Float]? { hasCenter ? x : nil }

    public func exchangedFloats(_ solver: Solver) -> (perRound: Int, perIteration: Int) {
        (comm.size > 1 ? solver.net.weights.count : 0, 0)
    }
}

/// The 1/K of a model average, moved into the solver's round-ending update
/// (w ← (w − Δ)/K in the update's one pass), so the weights arrive at the exchange already
/// scaled and the exchange is a bare sum. Tracks whether that really happened, so the weights
/// are scaled exactly once per round either way.
struct WeightPrescale {
    private var requested = false

    /// Asks `solver` to scale its next update by 1/`ranks` (nothing on one rank).
    mutating func request(_ solver: Solver, ranks: Int) {
        guard ranks > 1 else { return }
        solver.nextUpdateScale = 1 / Float(ranks)
        requested = true
    }

    /// Whether the weights arrived scaled, at the end of a round; clears the request. A scale no
    /// update took is withdrawn (false), so the caller scales the weights itself.
    mutating func take(_ solver: Solver) -> Bool {
        defer { requested = false }
        guard requested else { return false }
        guard solver.nextUpdateScale == 1 else {
            solver.nextUpdateScale = 1
            return false
        }
        return true
    }
}

/// The buffers a model average exchanges: the weight arena first, plus the solver history when
/// `--average-history` asks for it.
func averagedBuffers(_ solver: Solver, withHistory: Bool) -> [UnsafeMutableBufferPointer<Float>] {
    [solver.net.weights] + (withHistory ? solver.historyArenas : [])
}
