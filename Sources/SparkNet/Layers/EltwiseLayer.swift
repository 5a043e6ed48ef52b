import CaffeProto

/// Caffe's Eltwise layer: element-wise PROD, SUM (with one coefficient per bottom) or MAX of
/// bottoms of identical shape.
public final class EltwiseLayer: Layer {
    override public var minBottoms: Int? { 2 }
    override public var exactTops: Int? { 1 }

    private var op: Caffe_EltwiseParameter.EltwiseOp = .sum
    private var coeffs: [Float] = []
    private var stableProdGrad = true
    /// MAX: index of the bottom that won each element (as Float), kept for backward.
    private let maxIndex = Blob(hasDiff: false)

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.eltwiseParam
        try require(p.coeff.isEmpty || p.coeff.count == bottom.count,
                    "\(label): eltwise_param takes one coefficient per bottom blob: \(p.coeff.count) coeffs for \(bottom.count) bottoms")
        try require(!(p.operation == .prod && !p.coeff.isEmpty),
                    "\(label): eltwise_param only takes coefficients for summation (operation is PROD)")
        op = p.operation
        coeffs = p.coeff.isEmpty ? Array(repeating: 1, count: bottom.count) : p.coeff
        stableProdGrad = p.stableProdGrad
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        for (i, b) in bottom.enumerated().dropFirst() {
            try require(b.shape == bottom[0].shape,
                        "\(label): all bottoms must have the same shape: bottom[0] is \(bottom[0].shape), bottom[\(i)] is \(b.shape)")
        }
        try top[0].reshapeLike(bottom[0])
        if op == .max { try maxIndex.reshapeLike(bottom[0]) }
    }

    /// SUM: an in-place ReLU after this layer can be computed in its pass (see FusedChain).
    var sums: Bool { op == .sum }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        forward(bottom: bottom, top: top, reluSlope: nil)
    }

    /// Forward; with `reluSlope` (SUM only), the top is the output of the ReLU that follows in place.
    func forward(bottom: [Blob], top: [Blob], reluSlope: Float?) {
        let n = top[0].count
        let y = top[0].data
        switch op {
        case .prod:
            let a = bottom[0].data, b = bottom[1].data
            for i in 0..<n { y[i] = a[i] * b[i] }
            for k in 2..<max(bottom.count, 2) {
                let x = bottom[k].data
                for i in 0..<n { y[i] *= x[i] }
            }
        case .sum:
            // y = c0·x0 first (rather than zeroing y) so that a top in place on bottom 0 stays
            // right; then y += c_k·x_k, then the fused ReLU. Element-wise, over slices in
            // parallel, in blocks that stay in cache between the passes.
            let c = coeffs
            Parallel.forEachSlice(n) { slice in
                for start in stride(from: slice.lowerBound, to: slice.upperBound, by: 4096) {
                    let r = start..<min(start + 4096, slice.upperBound)
                    let x0 = bottom[0].data, c0 = c[0]
                    for i in r { y[i] = c0 * x0[i] }
                    for k in 1..<bottom.count {
                        let x = bottom[k].data, ck = c[k]
                        for i in r { y[i] += ck * x[i] }
                    }
                    if let slope = reluSlope {   // as ReLULayer
                        if slope == 0 {
                            for i in r { y[i] = max(y[i], 0) }
                        } else {
                            for i in r { y[i] = max(y[i], 0) + slope * min(y[i], 0) }
                        }
                    }
                }
            }
        case .max:
            let mask = maxIndex.data
            let a = bottom[0].data, b = bottom[1].data
            for i in 0..<n {
                // Ties go to the later bottom, as in Caffe.
                if a[i] > b[i] { y[i] = a[i]; mask[i] = 0 } else { y[i] = b[i]; mask[i] = 1 }
            }
            for k in 2..<max(bottom.count, 2) {
                let x = bottom[k].data
                for i in 0..<n where x[i] > y[i] { y[i] = x[i]; mask[i] = Float(k) }
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        backward(top: top, propagateDown: propagateDown, bottom: bottom, reluSlope: nil)
    }

    /// Backward; with `reluSlope` (SUM only), the top's gradient is that of the ReLU that
    /// follows in place (its output is the top's data).
    func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob], reluSlope: Float?) {
        let n = top[0].count
        if let slope = reluSlope {
            // dx_k = c_k·(dy·(y > 0 ? 1 : slope)), bottom 0 last: it may be the top, in place.
            let y = top[0].data, dy = top[0].diff, c = coeffs
            Parallel.forEachSlice(n) { slice in
                for start in stride(from: slice.lowerBound, to: slice.upperBound, by: 4096) {
                    let r = start..<min(start + 4096, slice.upperBound)
                    for k in bottom.indices.reversed() where propagateDown[k] {
                        let dx = bottom[k].diff, ck = c[k]
                        for i in r { dx[i] = ck * (dy[i] * (y[i] > 0 ? 1 : slope)) }
                    }
                }
            }
            return
        }
        let y = top[0].data, dy = top[0].diff
        for (k, b) in bottom.enumerated() where propagateDown[k] {
            let dx = b.diff
            switch op {
            case .prod:
                if stableProdGrad {
                    // dx_k = dy · Π_{j≠k} x_j (no division, so zeros in x_k are fine).
                    var first = true
                    for (j, other) in bottom.enumerated() where j != k {
                        let x = other.data
                        if first { copy(n, x, dx); first = false } else { for i in 0..<n { dx[i] *= x[i] } }
                    }
                } else {
                    let x = b.data
                    for i in 0..<n { dx[i] = y[i] / x[i] }
                }
                for i in 0..<n { dx[i] *= dy[i] }
            case .sum:
                let ck = coeffs[k]
                Parallel.forEachSlice(n) { r in for i in r { dx[i] = ck * dy[i] } }
            case .max:
                let mask = maxIndex.data
                let kf = Float(k)
                for i in 0..<n { dx[i] = mask[i] == kf ? dy[i] : 0 }
            }
        }
    }
}
