import CaffeProto
import Foundation

/// What the layers of one net share: the seeded generator (fillers, dropout), the scratch
/// workspace, and the data sources that feed data layers.
public final class NetContext {
    public var rng: RandomGenerator
    public let workspace = Workspace()
    /// Supplies a `BatchSource` for a data layer (HDF5Data) by its LayerParameter and phase.
    public var sourceProvider: ((Caffe_LayerParameter, Caffe_Phase) throws -> BatchSource)?
    /// Whether a Net built on this context runs ResNet's in-place chains (BatchNorm → Scale →
    /// ReLU, Eltwise → ReLU) as one pass over memory (`FusedChain`). `SPARKNET_NO_FUSION=1` in
    /// the environment turns it off, to compare.
    public var fusesLayers = ProcessInfo.processInfo.environment["SPARKNET_NO_FUSION"] != "1"

    public init(seed: UInt64 = 1701,
                sourceProvider: ((Caffe_LayerParameter, Caffe_Phase) throws -> BatchSource)? = nil) {
        rng = RandomGenerator(seed: seed)
        self.sourceProvider = sourceProvider
    }
}

/// A layer, as in Caffe: `setUp` checks bottoms and creates learnable blobs, `reshape` shapes the
/// tops, `forward` computes tops from bottoms and `backward` computes bottom gradients.
///
/// Conventions (Caffe's): `backward` overwrites bottom diffs but **accumulates** into parameter
/// diffs (the solver clears them each iteration, which makes `iter_size` work).
open class Layer {
    public let param: Caffe_LayerParameter
    public let phase: Caffe_Phase
    public let context: NetContext
    /// Learnable parameters (weights, biases, BatchNorm statistics), in Caffe's order.
    public var blobs: [Blob] = []
    /// Whether each learnable blob needs its gradient (false when its lr_mult is 0).
    public var paramPropagateDown: [Bool] = []

    public var name: String { param.name }
    public var type: String { param.type }

    public required init(param: Caffe_LayerParameter, phase: Caffe_Phase, context: NetContext) throws {
        self.param = param
        self.phase = phase
        self.context = context
    }

    // MARK: bottom/top counts (nil: no constraint)
    open var exactBottoms: Int? { nil }
    open var minBottoms: Int? { nil }
    open var maxBottoms: Int? { nil }
    open var exactTops: Int? { nil }
    open var minTops: Int? { nil }
    open var maxTops: Int? { nil }
    /// Tops equal bottoms in number (Split excepted).
    open var equalBottomTopCount: Bool { false }
    /// Loss layers weight their first top by 1 unless `loss_weight` says otherwise.
    open var isLoss: Bool { false }
    /// Whether `force_backward` may ask for the gradient of bottom `i` (not for labels).
    open func allowForceBackward(_ bottomIndex: Int) -> Bool { true }

    /// Checks the bottoms and creates (and fills) the learnable blobs.
    open func setUp(bottom: [Blob], top: [Blob]) throws {}
    /// Shapes the tops for the current bottoms; reserves workspace. Allocates only when shapes grow.
    open func reshape(bottom: [Blob], top: [Blob]) throws {}
    open func forward(bottom: [Blob], top: [Blob]) throws {
        throw SparkNetError("layer '\(name)': type \(type) has no forward implementation")
    }
    open func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}

    /// lr_mult and decay_mult of learnable blob `i` (Caffe's ParamSpec; 1 and 1 when absent).
    /// BatchNorm overrides this: its statistics are never learned by gradient.
    open func paramMultipliers(_ i: Int) -> (lr: Float, decay: Float) {
        guard i < param.param.count else { return (1, 1) }
        let spec = param.param[i]
        return (spec.lrMult, spec.decayMult)
    }

    /// A label for messages: `layer 'conv1' (Convolution)`.
    public var label: String { "layer '\(name)' (\(type))" }

    /// Checks counts, then runs `setUp` and `reshape`.
    public final func setUpAndReshape(bottom: [Blob], top: [Blob]) throws {
        func check(_ n: Int, _ what: String, exact: Int?, min: Int?, max: Int?) throws {
            if let e = exact { try require(n == e, "\(label): takes \(e) \(what) blob(s), got \(n)") }
            if let m = min { try require(n >= m, "\(label): takes at least \(m) \(what) blob(s), got \(n)") }
            if let m = max { try require(n <= m, "\(label): takes at most \(m) \(what) blob(s), got \(n)") }
        }
        try check(bottom.count, "bottom", exact: exactBottoms, min: minBottoms, max: maxBottoms)
        try check(top.count, "top", exact: exactTops, min: minTops, max: maxTops)
        if equalBottomTopCount {
            try require(bottom.count == top.count, "\(label): needs as many tops as bottoms")
        }
        try namingLayer {
            try setUp(bottom: bottom, top: top)
            try reshape(bottom: bottom, top: top)
        }
        if paramPropagateDown.count != blobs.count {
            paramPropagateDown = Array(repeating: true, count: blobs.count)
        }
    }

    /// Runs `body`, turning a blob size error into one that names this layer.
    public final func namingLayer<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as BlobSizeError {
            throw SparkNetError("\(label): \(e)")
        }
    }

    /// A new learnable blob of `shape`, filled by `filler` when given (else zeros). Weights that
    /// a LayerParameter carries in `blobs` are copied over these by the Net after set-up.
    public func makeParamBlob(_ shape: [Int], filler: Caffe_FillerParameter?) throws -> Blob {
        _ = try Blob.checkedCount(shape)
        let b = Blob(shape: shape)
        if let f = filler { try Filler.fill(b, f, rng: &context.rng, label: label) }
        return b
    }
}
