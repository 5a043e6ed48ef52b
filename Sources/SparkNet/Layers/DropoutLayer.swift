import CaffeProto

/// Caffe's Dropout layer. In TRAIN each element is kept with probability 1 − p and scaled by
/// 1 / (1 − p) (so TEST is the identity); the mask is drawn from `context.rng`. In place allowed.
public final class DropoutLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var ratio: Float = 0.5
    private var scale: Float = 2
    /// The kept/dropped mask (1 or 0) of the last TRAIN forward, for backward.
    private let mask = Blob(hasDiff: false)

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        ratio = param.dropoutParam.dropoutRatio
        try require(ratio >= 0 && ratio < 1, "\(label): dropout_ratio must be in [0, 1), got \(ratio)")
        scale = 1 / (1 - ratio)
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        try top[0].reshapeLike(bottom[0])
        if phase == .train { try mask.reshapeLike(bottom[0]) }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let n = bottom[0].count, x = bottom[0].data, y = top[0].data
        guard phase == .train else { copy(n, x, y); return }
        // Bernoulli(1 − p), as caffe_rng_bernoulli: keep when u < 1 − p.
        let keep = 1 - ratio
        let m = mask.data
        var rng = context.rng   // a local copy keeps the loop free of class-property access
        for i in 0..<n {
            m[i] = rng.nextUnit() < keep ? 1 : 0
            y[i] = x[i] * m[i] * scale
        }
        context.rng = rng
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        let n = bottom[0].count, dy = top[0].diff, dx = bottom[0].diff
        guard phase == .train else { copy(n, dy, dx); return }
        let m = mask.data
        for i in 0..<n { dx[i] = dy[i] * m[i] * scale }
    }
}
