import CaffeProto

/// Caffe's Accuracy layer: the fraction of positions whose label is among the `top_k` highest
/// scores of bottom 0 along `axis` (ties count against the label: a score equal to the true
/// class's counts as better). The optional second top holds the accuracy of each class.
/// It has no gradient.
public final class AccuracyLayer: Layer {
    override public var exactBottoms: Int? { 2 }
    override public var minTops: Int? { 1 }
    override public var maxTops: Int? { 2 }

    private var topK = 1
    private var ignoreLabel: Int? = nil
    private var outer = 1, classes = 1, inner = 1
    /// Per-class label counts for the second top.
    private let classCounts = Blob(hasDiff: false)

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.accuracyParam
        topK = Int(p.topK)
        try require(topK >= 1, "\(label): accuracy_param.top_k must be at least 1, got \(topK)")
        ignoreLabel = p.hasIgnoreLabel ? Int(p.ignoreLabel) : nil
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0], n = b.numAxes
        try require(bottom[1].count > 0 && topK <= b.count / bottom[1].count,
                    "\(label): top_k (\(topK)) must be less than or equal to the number of classes (\(bottom[1].count > 0 ? b.count / bottom[1].count : 0))")
        let a = Int(param.accuracyParam.axis)
        try require(a >= -n && a < n, "\(label): accuracy_param.axis \(a) is out of range for bottom of shape \(b.shape)")
        let axis = b.canonicalAxis(a)
        outer = b.count(0, axis)
        classes = b.shape[axis]
        inner = b.count(from: axis + 1)
        try require(outer * inner == bottom[1].count,
                    "\(label): number of labels must match number of predictions: prediction shape \(b.shape) with axis \(axis) needs \(outer * inner) labels, label blob \(bottom[1].shape) has \(bottom[1].count)")
        try top[0].reshape([])
        if top.count > 1 {
            try top[1].reshape([classes])
            try classCounts.reshape([classes])
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0].data, labels = bottom[1].data
        let dim = classes * inner
        let perClass = top.count > 1
        if perClass {
            setAll(classes, 0, classCounts.data)
            setAll(classes, 0, top[1].data)
        }
        var correct = 0, count = 0
        for i in 0..<outer {
            for j in 0..<inner {
                guard let l = try classIndex(labels[i * inner + j], sample: i, position: j, inner: inner,
                                             classes: classes, ignoreLabel: ignoreLabel, label: label)
                else { continue }
                if perClass { classCounts.data[l] += 1 }
                let truth = x[i * dim + l * inner + j]
                // The true class counts itself as "better", hence the start at −1.
                var better = -1
                var k = 0
                while k < classes && better < topK {
                    if x[i * dim + k * inner + j] >= truth { better += 1 }
                    k += 1
                }
                if better < topK {
                    correct += 1
                    if perClass { top[1].data[l] += 1 }
                }
                count += 1
            }
        }
        top[0].data[0] = count == 0 ? 0 : Float(correct) / Float(count)
        if perClass {
            for c in 0..<classes {
                let n = classCounts.data[c]
                top[1].data[c] = n == 0 ? 0 : top[1].data[c] / n
            }
        }
    }

    /// Accuracy is piecewise constant, so its gradient is zero. Caffe aborts if asked (only
    /// `force_backward` asks); zeroing keeps stale diffs out of a Split's sum instead.
    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        for (i, b) in bottom.enumerated() where propagateDown[i] { b.zeroDiff() }
    }
}
