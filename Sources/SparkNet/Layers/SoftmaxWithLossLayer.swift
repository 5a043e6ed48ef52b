import CaffeProto
import Foundation

/// Caffe's SoftmaxWithLoss layer: the mean (see `normalization`) of −log softmax(x)[label] over
/// the outer·inner positions of bottom 0 (N, C, …), with integer labels in bottom 1 (N·inner
/// values). Positions whose label is `ignore_label` count for nothing. The optional second top
/// receives the probabilities.
public final class SoftmaxWithLossLayer: Layer {
    override public var exactBottoms: Int? { 2 }
    override public var minTops: Int? { 1 }
    override public var maxTops: Int? { 2 }
    override public var isLoss: Bool { true }
    /// Labels get no gradient.
    override public func allowForceBackward(_ bottomIndex: Int) -> Bool { bottomIndex != 1 }

    private var outer = 1, channels = 1, inner = 1
    private var ignoreLabel: Int? = nil
    private var normalization: Caffe_LossParameter.NormalizationMode = .valid
    /// The probabilities, kept for backward.
    private let prob = Blob(hasDiff: false)
    /// Non-ignored positions in the last forward.
    private var validCount = 0

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let lp = param.lossParam
        ignoreLabel = lp.hasIgnoreLabel ? Int(lp.ignoreLabel) : nil
        if !lp.hasNormalization && lp.hasNormalize {
            normalization = lp.normalize ? .valid : .batchSize
        } else {
            normalization = lp.normalization
        }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        try checkLossBottoms(bottom, label: label)
        (outer, channels, inner) = try softmaxGeometry(bottom[0], axis: Int(param.softmaxParam.axis), label: label)
        try require(outer * inner == bottom[1].count,
                    "\(label): number of labels must match number of predictions: prediction shape \(bottom[0].shape) with softmax axis \(param.softmaxParam.axis) needs \(outer * inner) labels, label blob \(bottom[1].shape) has \(bottom[1].count); e.g. if the prediction shape is (N, C, H, W), the label count must be N·H·W, with integer values in {0, 1, …, C−1}")
        try top[0].reshape([])
        try prob.reshapeLike(bottom[0])
        if top.count > 1 { try top[1].reshapeLike(bottom[0]) }
        try context.workspace.reserve(inner)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        softmaxForward(outer, channels, inner, bottom[0].data, prob.data, scratch: context.workspace.buffer(inner))
        let p = prob.data, labels = bottom[1].data
        let dim = channels * inner
        var loss: Float = 0
        var count = 0
        for i in 0..<outer {
            for j in 0..<inner {
                guard let l = try classIndex(labels[i * inner + j], sample: i, position: j, inner: inner,
                                             classes: channels, ignoreLabel: ignoreLabel, label: label)
                else { continue }
                loss -= logf(max(p[i * dim + l * inner + j], Float.leastNormalMagnitude))
                count += 1
            }
        }
        validCount = count
        top[0].data[0] = loss / normalizer(count)
        if top.count > 1 { copy(prob.count, p, top[1].data) }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        // Labels get no gradient (Caffe aborts if asked); zero keeps a Split's sum clean.
        if propagateDown[1] { bottom[1].zeroDiff() }
        guard propagateDown[0] else { return }
        // dx = (p − onehot(label)) · loss_weight / normalizer; ignored positions get 0.
        let dx = bottom[0].diff, labels = bottom[1].data
        let dim = channels * inner
        copy(prob.count, prob.data, dx)
        var count = 0
        for i in 0..<outer {
            for j in 0..<inner {
                // forward validated these labels; anything else is treated as ignored, never a crash.
                let v = labels[i * inner + j]
                let l = v.isFinite && abs(v) < 2e9 ? Int(v) : -1
                if (ignoreLabel != nil && l == ignoreLabel!) || l < 0 || l >= channels {
                    for c in 0..<channels { dx[i * dim + c * inner + j] = 0 }
                } else {
                    dx[i * dim + l * inner + j] -= 1
                    count += 1
                }
            }
        }
        scal(prob.count, top[0].diff[0] / normalizer(count), dx)
    }

    /// Caffe's get_normalizer: never below 1, so an all-ignored batch gives loss 0, not NaN.
    private func normalizer(_ valid: Int) -> Float {
        let n: Int
        switch normalization {
        case .full: n = outer * inner
        case .valid: n = valid
        case .batchSize: n = outer
        case .none: n = 1
        }
        return max(1, Float(n))
    }
}

/// Caffe's LossLayer::Reshape check: predictions and labels agree on the first axis.
func checkLossBottoms(_ bottom: [Blob], label: String) throws {
    let n0 = bottom[0].shape.first ?? 1, n1 = bottom[1].shape.first ?? 1
    try require(n0 == n1,
                "\(label): the data and label should have the same first dimension: bottom[0] is \(bottom[0].shape), bottom[1] is \(bottom[1].shape)")
}

/// The class a label value names (truncated like Caffe's static_cast<int>), nil when it is the
/// ignore label, or an error naming the layer, the value, the sample and the valid range.
/// `label` is only built for the error: building it per sample allocated in the training loop.
@inline(__always)
func classIndex(_ value: Float, sample: Int, position: Int, inner: Int, classes: Int,
                ignoreLabel: Int?, label: @autoclosure () -> String) throws -> Int? {
    if value.isFinite && abs(value) < 2e9 {
        let l = Int(value)
        if let ig = ignoreLabel, l == ig { return nil }
        if l >= 0 && l < classes { return l }
    }
    let at = inner > 1 ? "sample \(sample), position \(position)" : "sample \(sample)"
    let ignored = ignoreLabel.map { " (or ignore_label \($0))" } ?? ""
    throw SparkNetError("\(label()): label \(value) at \(at) is out of range, expected an integer in [0, \(classes))\(ignored)")
}
