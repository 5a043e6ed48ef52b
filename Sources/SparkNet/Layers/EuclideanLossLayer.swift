import CaffeProto

/// Caffe's EuclideanLoss layer: Σ (x₀ − x₁)² / (2N), N the first dimension. Both bottoms get
/// gradients (either may be the prediction).
public final class EuclideanLossLayer: Layer {
    override public var exactBottoms: Int? { 2 }
    override public var exactTops: Int? { 1 }
    override public var isLoss: Bool { true }

    /// x₀ − x₁ from the last forward.
    private let difference = Blob(hasDiff: false)

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        try checkLossBottoms(bottom, label: label)
        try require(bottom[0].count(from: 1) == bottom[1].count(from: 1),
                    "\(label): inputs must have the same dimension: bottom[0] is \(bottom[0].shape), bottom[1] is \(bottom[1].shape)")
        try require(bottom[0].count == bottom[1].count,
                    "\(label): inputs must have the same count: bottom[0] is \(bottom[0].shape), bottom[1] is \(bottom[1].shape)")
        try top[0].reshape([])
        try difference.reshapeLike(bottom[0])
    }

    private func num(_ b: Blob) -> Float { Float(max(b.shape.first ?? 1, 1)) }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let n = bottom[0].count, a = bottom[0].data, b = bottom[1].data, d = difference.data
        for i in 0..<n { d[i] = a[i] - b[i] }
        top[0].data[0] = dot(n, d, d) / num(bottom[0]) / 2
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        for i in 0..<2 where propagateDown[i] {
            // dx₀ = w·d/N, dx₁ = −w·d/N
            let alpha = (i == 0 ? 1 : -1) * top[0].diff[0] / num(bottom[i])
            let n = bottom[i].count, d = difference.data, dx = bottom[i].diff
            for j in 0..<n { dx[j] = alpha * d[j] }
        }
    }
}
