import CaffeProto
import Foundation

/// Caffe's BatchNorm layer: `y = (x − mean) / sqrt(var + eps)` per channel (axis 1), over the
/// batch and spatial axes. There is no learned scale/shift (a following Scale layer adds it).
///
/// Blobs, as Caffe: running mean sum (C), running variance sum (C), and the scale factor (1)
/// those sums are divided by. They are statistics, not parameters: `paramMultipliers` is (0, 0)
/// and a non-zero `lr_mult` is refused, as Caffe does.
///
/// - TRAIN (`use_global_stats` false, the default in TRAIN): batch statistics, and the running
///   sums are updated in forward: factor ← λ·factor + 1, mean ← batchMean + λ·mean,
///   var ← m/(m−1)·batchVar + λ·var (m = count / C, unbiased), λ = moving_average_fraction.
/// - TEST (`use_global_stats` true, the default in TEST): mean/var = sums / factor (0 if factor 0).
///
/// In place is allowed: the normalized output is kept in a layer-owned blob for backward.
public final class BatchNormLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var useGlobalStats = false
    private var movingAverageFraction: Float = 0.999
    private var eps: Float = 1e-5
    private var channels = 0
    /// (C) mean and variance used by the last forward (scratch).
    private let mean = Blob(hasDiff: false)
    private let variance = Blob(hasDiff: false)
    /// (C) sqrt(variance + eps) of the last forward, for backward.
    private let stddev = Blob(hasDiff: false)
    /// Like the bottom: the normalized output of the last forward (survives in-place layers after).
    private let xNorm = Blob(hasDiff: false)
    /// The normalized output of the last forward (an in-place Scale after this layer reads it).
    var normalized: Blob { xNorm }

    override public func paramMultipliers(_ i: Int) -> (lr: Float, decay: Float) { (0, 0) }

    /// The in-place Scale (per channel) and ReLU after this layer, which a fused pass computes
    /// together with it (see FusedChain). `slope` nil: no ReLU; gradients nil: not wanted.
    struct ScaleAndReLU {
        let scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?, slope: Float?
        let scaleDiff: UnsafeMutablePointer<Float>?, biasDiff: UnsafeMutablePointer<Float>?
    }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.batchNormParam
        movingAverageFraction = p.movingAverageFraction
        useGlobalStats = p.hasUseGlobalStats ? p.useGlobalStats : (phase == .test)
        eps = p.eps
        let b = bottom[0]
        try require(b.numAxes >= 1, "\(label): bottom must have at least 1 axis, got \(b.shape)")
        channels = b.numAxes == 1 ? 1 : b.shape[1]
        for (i, spec) in param.param.enumerated() where i < 3 {
            try require(spec.lrMult == 0,
                        "\(label): cannot configure batch normalization statistics as layer parameters: param[\(i)] has lr_mult \(spec.lrMult), expected 0")
        }
        blobs = [try makeParamBlob([channels], filler: nil),
                 try makeParamBlob([channels], filler: nil),
                 try makeParamBlob([1], filler: nil)]
        paramPropagateDown = [false, false, false]
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        let c = b.numAxes == 1 ? 1 : b.shape[1]
        try require(c == channels, "\(label): bottom \(b.shape) has \(c) channels, expected \(channels)")
        try require(b.shape[0] > 0, "\(label): bottom \(b.shape) has an empty batch")
        if top[0] !== b { try top[0].reshape(b.shape) }
        try mean.reshape([channels]); try variance.reshape([channels]); try stddev.reshape([channels])
        try xNorm.reshape(b.shape)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        forward(bottom: bottom, top: top, then: nil)
    }

    /// Forward; with `after`, the top is the output of the Scale and ReLU that follow in place.
    func forward(bottom: [Blob], top: [Blob], then after: ScaleAndReLU?) {
        let b = bottom[0]
        let num = b.shape[0], C = channels
        let S = b.count / (num * C)
        let x = b.data, y = top[0].data, z = xNorm.data
        let mu = mean.data, v = variance.data, sd = stddev.data
        let inv = Float(1.0 / Double(num * S))
        if useGlobalStats {
            let f = blobs[2].data[0]
            let sf: Float = f == 0 ? 0 : 1 / f
            for c in 0..<C { mu[c] = sf * blobs[0].data[c]; v[c] = sf * blobs[1].data[c] }
        }
        // x, y, xNorm: (N, C, S). Each thread takes whole channels: mean, variance, then
        // y = xNorm = (x − mean) / sqrt(var + eps). In place (y = x) each element is read
        // before it is written.
        let global = useGlobalStats, eps = eps
        Parallel.forEachRange(C) { _, channels in
            for c in channels {
                if !global {
                    var s: Float = 0
                    for n in 0..<num { s += laneSum(S, x + (n * C + c) * S) }
                    mu[c] = s * inv
                    var q: Float = 0
                    for n in 0..<num { q += laneSquaredDeviations(S, x + (n * C + c) * S, from: mu[c]) }
                    v[c] = q * inv
                }
                sd[c] = (v[c] + eps).squareRoot()
                let k = 1 / sd[c]
                for n in 0..<num {
                    let o = (n * C + c) * S
                    if let after {
                        laneNormalizeAffineReLU(S, x + o, mu[c], k, after.scale[c], after.bias?[c] ?? 0, after.slope,
                                                y + o, z + o)
                    } else {
                        laneNormalize(S, x + o, mu[c], k, y + o, z + o)
                    }
                }
            }
        }
        if !useGlobalStats {
            // the running sums (Caffe's moving average), variance unbiased
            let lambda = movingAverageFraction
            blobs[2].data[0] = blobs[2].data[0] * lambda + 1
            axpby(C, 1, mu, lambda, blobs[0].data)
            let m = b.count / C
            let correction: Float = m > 1 ? Float(m) / Float(m - 1) : 1
            axpby(C, correction, v, lambda, blobs[1].data)
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        backward(top: top, bottom: bottom, through: nil)
    }

    /// Backward; with `after`, the top's gradient is that of the Scale and ReLU that follow in
    /// place, and their gradients are taken on the way (the Scale's accumulate).
    func backward(top: [Blob], bottom: [Blob], through after: ScaleAndReLU?) {
        let b = bottom[0]
        let num = b.shape[0], C = channels
        let S = b.count / (num * C)
        // In place, dy and dx are the same memory: every dx element is computed from the dy
        // element at the same index after the per-channel sums are taken, so that is safe.
        let dy = top[0].diff, dx = b.diff, sd = stddev.data, yN = xNorm.data
        let global = useGlobalStats
        let inv = Float(-1.0 / Double(num * S))
        // dx = (dy − mean(dy) − mean(dy·y)·y) / sqrt(var + eps), means over (N, S) per channel;
        // with global statistics dx = dy / sqrt(var + eps). Whole channels per thread.
        // Fused: the same with dy·relu′ for the Scale's gradient, s·that for this layer's dy.
        Parallel.forEachRange(C) { _, channels in
            for c in channels {
                var a: Float = 0, g: Float = 0
                if let after {
                    let s = after.scale[c], b = after.bias?[c] ?? 0
                    if !global || after.scaleDiff != nil || after.biasDiff != nil {
                        var sa: Float = 0, sg: Float = 0
                        for n in 0..<num {
                            let o = (n * C + c) * S
                            let r = laneAffineReLUSums(S, dy + o, yN + o, s, b, after.slope)
                            sa += r.scaleDot; sg += r.scaleSum; a += r.normDot; g += r.normSum
                        }
                        after.scaleDiff?[c] += sa
                        after.biasDiff?[c] += sg
                        if global { a = 0; g = 0 }
                    }
                    let k = 1 / sd[c]
                    for n in 0..<num {
                        let o = (n * C + c) * S
                        laneAffineReLUNormGradient(S, dy + o, yN + o, s, b, after.slope, inv * a, inv * g, k, dx + o)
                    }
                    continue
                }
                if !global {
                    for n in 0..<num {
                        let o = (n * C + c) * S
                        let r = laneDotAndSum(S, dy + o, yN + o)
                        a += r.dot; g += r.sum
                    }
                }
                let k = 1 / sd[c]
                for n in 0..<num {
                    let o = (n * C + c) * S
                    laneNormGradient(S, dy + o, yN + o, inv * a, inv * g, k, dx + o)
                }
            }
        }
    }
}
