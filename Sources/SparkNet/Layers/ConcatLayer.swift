import CaffeProto

/// Caffe's Concat layer: joins its bottoms along `axis` (or the legacy `concat_dim`); all other
/// axes must agree. With a single bottom the top is a view of it (shared data and diff), as in Caffe.
public final class ConcatLayer: Layer {
    override public var minBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var axis = 1
    private var outer = 1      // product of the axes before `axis`
    private var inner = 1      // product of the axes after `axis`
    private var offsets: [Int] = []   // where each bottom starts along `axis` in the top

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.concatParam
        try require(!(p.hasAxis && p.hasConcatDim),
                    "\(label): either concat_param.axis or concat_param.concat_dim should be specified, not both")
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let p = param.concatParam
        let b0 = bottom[0]
        let n = b0.numAxes
        if p.hasConcatDim {
            axis = Int(p.concatDim)
            try require(axis < n, "\(label): concat_dim \(axis) is out of range for bottom of shape \(b0.shape)")
        } else {
            let a = Int(p.axis)
            try require(a >= -n && a < n, "\(label): concat_param.axis \(a) is out of range for bottom of shape \(b0.shape)")
            axis = b0.canonicalAxis(a)
        }
        var topShape = b0.shape
        for (i, b) in bottom.enumerated().dropFirst() {
            try require(b.numAxes == n,
                        "\(label): all inputs must have the same number of axes: bottom[0] is \(b0.shape), bottom[\(i)] is \(b.shape)")
            for j in 0..<n where j != axis {
                try require(b.shape[j] == b0.shape[j],
                            "\(label): all inputs must have the same shape except at the concat axis \(axis): bottom[0] is \(b0.shape), bottom[\(i)] is \(b.shape)")
            }
            topShape[axis] += b.shape[axis]
        }
        outer = b0.count(0, axis)
        inner = b0.count(from: axis + 1)
        offsets = []
        var at = 0
        for b in bottom { offsets.append(at); at += b.shape[axis] }
        if bottom.count == 1 {
            top[0].shareData(b0)
            top[0].shareDiff(b0)
        }
        try top[0].reshape(topShape)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        guard bottom.count > 1 else { return }
        // bottom[i] (outer, C_i, inner) -> top (outer, ΣC_i, inner)
        let y = top[0].data
        eachBlock(bottom, top[0]) { i, n, block, at in
            (y + at).update(from: bottom[i].data + n * block, count: block)
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard bottom.count > 1 else { return }
        let dy = top[0].diff
        eachBlock(bottom, top[0]) { i, n, block, at in
            if propagateDown[i] { (bottom[i].diff + n * block).update(from: dy + at, count: block) }
        }
    }

    /// body(bottom index, outer index, block size, offset in the top) for every block of every
    /// bottom, the blocks spread over the engine's threads (each block is its own memory).
    private func eachBlock(_ bottom: [Blob], _ top: Blob,
                           _ body: (_ i: Int, _ n: Int, _ block: Int, _ at: Int) -> Void) {
        let topAxis = top.shape[axis], count = bottom.count
        let blocks = outer * count
        Parallel.forEachSlice(blocks, grain: max(1, blocks * (1 << 16) / max(top.count, 1))) { r in
            for t in r {
                let n = t / count, i = t % count
                body(i, n, bottom[i].shape[axis] * inner, (n * topAxis + offsets[i]) * inner)
            }
        }
    }
}
