import Foundation
import CaffeProto
import SparkNet

/// Caffe's GradientChecker: compares a layer's analytic gradients with centred finite
/// differences of the objective Σ top² / 2 (so each top's diff is its data).
///
/// A mismatch is |analytic − numeric| > threshold · max(|analytic|, |numeric|, 1).
public struct GradientChecker: Sendable {
    public var stepsize: Float
    public var threshold: Float
    /// Inputs within `kinkRange` of `kink` are skipped (ReLU at 0, max pooling ties).
    public var kink: Float
    public var kinkRange: Float
    /// At most this many elements of each blob are probed (evenly spread), to keep tests fast.
    public var maxProbesPerBlob: Int
    /// When set, the objective gets a seeded random linear term: Σ (top²/2 + r·top), r uniform in
    /// [−1, 1). Needed where Σ top²/2 is (nearly) constant, e.g. BatchNorm's normalized output,
    /// whose gradient would then be ~0 and the check vacuous.
    public var projectionSeed: UInt64?

    public init(stepsize: Float = 1e-2, threshold: Float = 1e-3, kink: Float = 0,
                kinkRange: Float = -1, maxProbesPerBlob: Int = 400, projectionSeed: UInt64? = nil) {
        self.stepsize = stepsize
        self.threshold = threshold
        self.kink = kink
        self.kinkRange = kinkRange
        self.maxProbesPerBlob = maxProbesPerBlob
        self.projectionSeed = projectionSeed
    }

    /// One mismatch, for the test's failure message.
    public struct Failure: CustomStringConvertible, Sendable {
        public let blob: String
        public let index: Int
        public let analytic: Float
        public let numeric: Float
        public var description: String { "\(blob)[\(index)]: analytic \(analytic), numeric \(numeric)" }
    }

    /// Sets the layer up on `bottom`/`top`, then checks the gradient with respect to the bottoms
    /// listed in `checkBottoms` (all by default) and to every learnable blob.
    /// Returns the mismatches (empty when the layer is right) and how many elements were probed.
    public func check(_ layer: Layer, bottom: [Blob], top: [Blob], checkBottoms: [Int]? = nil,
                      checkParams: Bool = true) throws -> (failures: [Failure], probed: Int) {
        try layer.setUpAndReshape(bottom: bottom, top: top)
        let which = checkBottoms ?? Array(bottom.indices)
        let propagate = bottom.indices.map { which.contains($0) }
        let rngStart = layer.context.rng
        // Coefficients of the optional linear term, one array per top (shapes are fixed here).
        var projection: [[Float]] = []
        if let seed = projectionSeed {
            var r = RandomGenerator(seed: seed)
            projection = top.map { t in (0..<t.count).map { _ in r.uniform(-1, 1) } }
        }

        func objective() throws -> Double {
            layer.context.rng = rngStart
            try layer.forward(bottom: bottom, top: top)
            var s = 0.0
            for (ti, t) in top.enumerated() {
                for j in 0..<t.count {
                    let y = Double(t.data[j])
                    s += y * y / 2
                    if !projection.isEmpty { s += Double(projection[ti][j]) * y }
                }
            }
            return s
        }

        // Analytic gradients: d objective / d top = top (+ r).
        // Bottom diffs are zeroed before the top diffs are set: a view layer's top diff is its
        // bottom's (Flatten, Reshape).
        _ = try objective()
        for b in layer.blobs { b.zeroDiff() }
        for b in bottom { b.zeroDiff() }
        for (ti, t) in top.enumerated() {
            copy(t.count, t.data, t.diff)
            if !projection.isEmpty { for j in 0..<t.count { t.diff[j] += projection[ti][j] } }
        }
        layer.backward(top: top, propagateDown: propagate, bottom: bottom)

        var targets: [(name: String, blob: Blob, analytic: [Float])] = []
        for i in which { targets.append(("bottom[\(i)]", bottom[i], bottom[i].diffArray)) }
        if checkParams {
            for (i, b) in layer.blobs.enumerated() where layer.paramPropagateDown[i] {
                targets.append(("param[\(i)]", b, b.diffArray))
            }
        }

        var failures: [Failure] = []
        var probed = 0
        for t in targets {
            let n = t.blob.count
            let stride = max(1, n / max(maxProbesPerBlob, 1))
            var i = 0
            while i < n {
                let orig = t.blob.data[i]
                if kinkRange < 0 || abs(orig - kink) > kinkRange {
                    t.blob.data[i] = orig + stepsize
                    let plus = try objective()
                    t.blob.data[i] = orig - stepsize
                    let minus = try objective()
                    t.blob.data[i] = orig
                    let numeric = Float((plus - minus) / (2 * Double(stepsize)))
                    let analytic = t.analytic[i]
                    let scale = max(abs(analytic), abs(numeric), 1)
                    if abs(analytic - numeric) > threshold * scale {
                        failures.append(Failure(blob: t.name, index: i, analytic: analytic, numeric: numeric))
                    }
                    probed += 1
                }
                i += stride
            }
        }
        return (failures, probed)
    }
}

/// Test fixtures shared by the engine's tests.
public enum Fixtures {
    /// One forward and backward pass of `layer` (set up here) on a Gaussian bottom of `shape`
    /// (seed 41), with Gaussian parameters (std 0.1, seeds 42, 43, …) and top gradient (seed 43):
    /// [top data, bottom diff, each parameter's diff].
    public static func forwardBackward(_ layer: Layer, shape: [Int]) throws -> [[Float]] {
        try forwardBackward(layer, shapes: [shape])
    }

    /// The same with one Gaussian bottom per shape (seeds 41, 141, 241, …):
    /// [top data, each bottom's diff, each parameter's diff].
    public static func forwardBackward(_ layer: Layer, shapes: [[Int]]) throws -> [[Float]] {
        let xs = shapes.enumerated().map { gaussianBlob($1, seed: 41 + 100 * UInt64($0)) }
        let top = Blob()
        try layer.setUpAndReshape(bottom: xs, top: [top])
        for (i, b) in layer.blobs.enumerated() {
            b.setData(gaussianBlob(b.shape, std: 0.1, seed: 42 + UInt64(i)).dataArray)
        }
        try layer.forward(bottom: xs, top: [top])
        top.setDiff(gaussianBlob(top.shape, seed: 43).dataArray)
        for b in layer.blobs { b.zeroDiff() }
        layer.backward(top: [top], propagateDown: xs.map { _ in true }, bottom: xs)
        return [top.dataArray] + xs.map(\.diffArray) + layer.blobs.map(\.diffArray)
    }

    /// A blob of `shape` filled with Gaussian noise (seeded, so tests are repeatable).
    public static func gaussianBlob(_ shape: [Int], std: Float = 1, seed: UInt64 = 7) -> Blob {
        let b = Blob(shape: shape)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<b.count { b.data[i] = rng.gaussian(mean: 0, std: std) }
        return b
    }

    /// A blob of `shape` filled uniformly in [lo, hi).
    public static func uniformBlob(_ shape: [Int], _ lo: Float, _ hi: Float, seed: UInt64 = 7) -> Blob {
        let b = Blob(shape: shape)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<b.count { b.data[i] = rng.uniform(lo, hi) }
        return b
    }

    /// A LayerParameter parsed from Caffe text format (the body of `layer { … }`).
    public static func layerParam(_ text: String) throws -> Caffe_LayerParameter {
        try Caffe_LayerParameter(textFormatString: text)
    }

    /// A layer built through the registry from its text definition. A Layer holds its context
    /// `unowned`, so the context is kept alive here for the rest of the test process (a default
    /// `NetContext()` would otherwise be freed as soon as this returns).
    public static func layer(_ text: String, phase: Caffe_Phase = .train,
                             context: NetContext = NetContext()) throws -> Layer {
        contextKeeper.keep(context)
        return try LayerRegistry.make(try layerParam(text), phase: phase, context: context)
    }

    /// A net parsed from Caffe text format.
    public static func net(_ text: String, phase: Caffe_Phase = .train,
                           context: NetContext = NetContext()) throws -> Net {
        try Net(param: try Caffe_NetParameter(textFormatString: text), phase: phase, context: context)
    }
}

/// Keeps fixture layers' contexts alive (see `Fixtures.layer`).
private final class ContextKeeper: @unchecked Sendable {
    private let lock = NSLock()
    private var contexts: [ObjectIdentifier: NetContext] = [:]
    func keep(_ c: NetContext) {
        lock.lock(); defer { lock.unlock() }
        contexts[ObjectIdentifier(c)] = c
    }
}
private let contextKeeper = ContextKeeper()
