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
    private let temp = Blob()

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
        if top[0] === b0 { temp.reshape(b0.shape) } else { top[0].reshape(b0.shape) }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let b0 = bottom[0]
        if top[0] === b0 { copy(b0.count, b0.data, temp.data) }
        let s = (bottom.count > 1 ? bottom[1] : blobs[0]).data
        let x = b0.data, y = top[0].data
        // x, y: (outer, scaleDim, inner); s: (scaleDim)
        for n in 0..<outerDim {
            for d in 0..<scaleDim {
                let o = (n * scaleDim + d) * innerDim
                let f = s[d]
                for i in 0..<innerDim { y[o + i] = f * x[o + i] }
            }
        }
        if biasTerm {
            let bias = blobs[blobs.count - 1].data
            for n in 0..<outerDim {
                for d in 0..<scaleDim {
                    let o = (n * scaleDim + d) * innerDim
                    let bd = bias[d]
                    for i in 0..<innerDim { y[o + i] += bd }
                }
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let b0 = bottom[0]
        let dy = top[0].diff
        let scaleIsParam = bottom.count == 1
        let scale = scaleIsParam ? blobs[0] : bottom[1]
        if biasTerm && paramPropagateDown[blobs.count - 1] {
            // db[d] += Σ_n Σ_i dy[n, d, i]
            let db = blobs[blobs.count - 1].diff
            for n in 0..<outerDim {
                for d in 0..<scaleDim {
                    let o = (n * scaleDim + d) * innerDim
                    var acc: Float = 0
                    for i in 0..<innerDim { acc += dy[o + i] }
                    db[d] += acc
                }
            }
        }
        if (scaleIsParam && paramPropagateDown[0]) || (!scaleIsParam && propagateDown[1]) {
            // ds[d] (+)= Σ_n Σ_i dy[n, d, i] · x[n, d, i]; x is the saved copy when in place
            let x = top[0] === b0 ? temp.data : b0.data
            let ds = scale.diff
            if !scaleIsParam { setAll(scaleDim, 0, ds) }
            for n in 0..<outerDim {
                for d in 0..<scaleDim {
                    let o = (n * scaleDim + d) * innerDim
                    ds[d] += dot(innerDim, dy + o, x + o)
                }
            }
        }
        if propagateDown[0] {
            // dx = dy · s[d] (elementwise, so it may overwrite dy in place)
            let s = scale.data, dx = b0.diff
            for n in 0..<outerDim {
                for d in 0..<scaleDim {
                    let o = (n * scaleDim + d) * innerDim
                    let f = s[d]
                    for i in 0..<innerDim { dx[o + i] = f * dy[o + i] }
                }
            }
        }
    }
}
