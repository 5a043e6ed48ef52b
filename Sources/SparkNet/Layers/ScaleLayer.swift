import CaffeProto

/// Caffe's Scale layer: `y = x ⊙ s (+ b)`, with s broadcast over the axes of x outside
/// [axis, axis + s.numAxes).
///
/// - One bottom: s is a learned blob of shape x.shape[axis ..< axis + num_axes] (num_axes −1:
///   to the end), filled by `filler` (default constant 1).
/// - Two bottoms: s is bottom[1] (its shape says which axes it covers; num_axes is ignored).
/// - `bias_term`: a learned bias of the same shape (Caffe's embedded Bias layer), filled by
///   `bias_filler` (default constant 0), stored after s (or alone with two bottoms).
///
/// A scalar s (0 axes) always applies at axis 0, as Caffe. In place is allowed: forward keeps a
/// copy of x for the gradient of s. Learned-blob gradients accumulate (the engine convention;
/// Caffe overwrites in some shapes); bottom[1]'s gradient is overwritten.
public final class ScaleLayer: Layer {
    override public var minBottoms: Int? { 1 }
    override public var maxBottoms: Int? { 2 }
    override public var exactTops: Int? { 1 }

    private var axis = 1
    private var outerDim = 0, scaleDim = 0, innerDim = 0
    private var biasTerm = false
    /// A copy of x when computing in place (needed for the gradient of s).
    private let temp = Blob(hasDiff: false)
    /// True when `temp` is a BatchNorm's saved output that equals x (see `reuseSavedInput`).
    private var inputSavedElsewhere = false

    /// Called by the Net before set-up: when this Scale runs in place right after an in-place
    /// BatchNorm on the same blob (ResNet's conv → BatchNorm → Scale), the BatchNorm's saved
    /// normalized output is this layer's input whenever it runs, so it serves as the copy of x
    /// that in-place computation keeps: one activation-sized copy less, in memory and in time.
    func reuseSavedOutput(of previous: Layer, bottom previousBottom: [Blob], top previousTop: [Blob],
                          ownBottom bottom: [Blob], ownTop top: [Blob]) {
        guard let norm = previous as? BatchNormLayer, bottom.count == 1, top.count == 1,
              top[0] === bottom[0], previousTop.count == 1, previousTop[0] === previousBottom[0],
              bottom[0] === previousTop[0] else { return }
        temp.shareData(norm.normalized)
        inputSavedElsewhere = true
    }

    /// When this Scale follows an in-place BatchNorm (`reuseSavedOutput`) with one learned value
    /// per channel (axis 1): the fused pass's view of it (see FusedChain), with the ReLU's slope.
    func fusedAfterBatchNorm(slope: Float?) -> BatchNormLayer.ScaleAndReLU? {
        guard inputSavedElsewhere, axis == 1, blobs[0].numAxes == 1 else { return nil }
        let bias = biasTerm ? blobs[1] : nil
        return .init(scale: blobs[0].data, bias: bias?.data, slope: slope,
                     scaleDiff: paramPropagateDown[0] ? blobs[0].diff : nil,
                     biasDiff: biasTerm && paramPropagateDown[1] ? blobs[1].diff : nil)
    }

    private func checkedAxis(_ b: Blob) throws -> Int {
        let a = Int(param.scaleParam.axis)
        try require(a >= -b.numAxes && a < b.numAxes,
                    "\(label): scale_param.axis \(a) is out of range for bottom of shape \(b.shape)")
        return b.canonicalAxis(a)
    }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.scaleParam
        let b0 = bottom[0]
        blobs = []
        // The axes the learned blobs cover: [start, start + count).
        func learnedShape(numAxes: Int) throws -> [Int] {
            let start = try checkedAxis(b0)
            try require(numAxes >= -1, "\(label): num_axes must be non-negative, or -1 to extend to the end of bottom[0]; got \(numAxes)")
            if numAxes >= 0 {
                try require(b0.numAxes >= start + numAxes,
                            "\(label): the scale shape extends past bottom[0]'s shape \(b0.shape) when applied from axis \(start) over \(numAxes) axes")
            }
            let end = numAxes == -1 ? b0.numAxes : start + numAxes
            return Array(b0.shape[start..<end])
        }
        if bottom.count == 1 {
            var filler = p.filler
            if !p.hasFiller {
                filler = Caffe_FillerParameter()
                filler.type = "constant"
                filler.value = 1
            }
            blobs.append(try makeParamBlob(try learnedShape(numAxes: Int(p.numAxes)), filler: filler))
        }
        biasTerm = p.biasTerm
        if biasTerm {
            let n = bottom.count > 1 ? bottom[1].numAxes : Int(p.numAxes)
            blobs.append(try makeParamBlob(try learnedShape(numAxes: n), filler: p.biasFiller))
        }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b0 = bottom[0]
        let scale = bottom.count > 1 ? bottom[1] : blobs[0]
        axis = scale.numAxes == 0 ? 0 : try checkedAxis(b0)
        try require(b0.numAxes >= axis + scale.numAxes,
                    "\(label): the scale blob \(scale.shape) extends past bottom[0]'s shape \(b0.shape) when applied from axis \(axis)")
        for i in 0..<scale.numAxes {
            try require(b0.shape[axis + i] == scale.shape[i],
                        "\(label): dimension mismatch between bottom[0] shape \(b0.shape) at axis \(axis + i) and scale shape \(scale.shape) at axis \(i)")
        }
        outerDim = b0.count(0, axis)
        scaleDim = scale.count
        innerDim = b0.count(from: axis + scale.numAxes)
        if biasTerm {
            let bias = blobs[blobs.count - 1]
            try require(bias.count == scaleDim,
                        "\(label): the bias has shape \(bias.shape), expected \(scale.shape) (the scale's)")
        }
        if top[0] === b0 { try temp.reshape(b0.shape) } else { try top[0].reshape(b0.shape) }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let b0 = bottom[0]
        let inPlace = top[0] === b0
        let s = (bottom.count > 1 ? bottom[1] : blobs[0]).data
        let bias: UnsafeMutablePointer<Float>? = biasTerm ? blobs[blobs.count - 1].data : nil
        let x = b0.data, y = top[0].data, saved = temp.data
        let D = scaleDim, I = innerDim, skipSave = inputSavedElsewhere
        // x, y: (outer, D, I); s, bias: (D). y = s[d]·x + bias[d], one (n, d) plane at a time;
        // in place, x is saved first for the scale's gradient.
        Parallel.forEachSlice(outerDim * D, grain: max(1, (1 << 16) / max(I, 1))) { planes in
            for p in planes {
                let o = p * I, d = p % D
                if inPlace && !skipSave { (saved + o).update(from: x + o, count: I) }
                laneAffine(I, x + o, s[d], bias?[d] ?? 0, y + o)
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let b0 = bottom[0]
        let dy = top[0].diff
        let scaleIsParam = bottom.count == 1
        let scale = scaleIsParam ? blobs[0] : bottom[1]
        let db: UnsafeMutablePointer<Float>? =
            biasTerm && paramPropagateDown[blobs.count - 1] ? blobs[blobs.count - 1].diff : nil
        let wantScale = (scaleIsParam && paramPropagateDown[0]) || (!scaleIsParam && propagateDown[1])
        let ds: UnsafeMutablePointer<Float>? = wantScale ? scale.diff : nil
        let dx: UnsafeMutablePointer<Float>? = propagateDown[0] ? b0.diff : nil
        // x is the saved copy when in place
        let x = top[0] === b0 ? temp.data : b0.data, s = scale.data
        let D = scaleDim, I = innerDim, N = outerDim
        if !scaleIsParam, let ds { setAll(D, 0, ds) }
        // Whole channels d per thread: db[d] += Σ dy, ds[d] += Σ dy·x over (n, i), then
        // dx = s[d]·dy (after the sums, so dx may be dy in place).
        Parallel.forEachSlice(D, grain: max(1, (1 << 16) / max(N * I, 1))) { channels in
            for d in channels {
                if db != nil || ds != nil {
                    var g: Float = 0, a: Float = 0
                    for n in 0..<N {
                        let r = laneDotAndSum(I, dy + (n * D + d) * I, x + (n * D + d) * I)
                        a += r.dot; g += r.sum
                    }
                    db?[d] += g
                    ds?[d] += a
                }
                if let dx {
                    for n in 0..<N {
                        let o = (n * D + d) * I
                        laneAffine(I, dy + o, s[d], 0, dx + o)
                    }
                }
            }
        }
    }
}
