import CaffeProto

/// Caffe's Reshape layer: replaces the axes [axis, axis + num_axes) of the bottom by
/// `reshape_param.shape`, where 0 copies the bottom's dimension at that position and a single
/// -1 is inferred from the element count. The top is a view: it shares
/// the bottom's data and diff, as in Caffe.
public final class ReshapeLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    /// Positions in the new shape holding 0 (copy the bottom's dim).
    private var copyAxes: [Int] = []
    /// Position of the -1 in the new shape, if any.
    private var inferredAxis: Int? = nil
    /// Product of the explicit (positive) dims of the new shape.
    private var constantCount = 1

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        try require(top[0] !== bottom[0], "\(label): does not allow in-place computation")
        for (i, d) in param.reshapeParam.shape.dim.enumerated() {
            if d == 0 {
                copyAxes.append(i)
            } else if d == -1 {
                try require(inferredAxis == nil,
                            "\(label): new shape contains multiple -1 dims; at most a single (1) value of -1 may be specified")
                inferredAxis = i
            } else {
                try require(d > 0, "\(label): reshape_param.shape has dim \(d), expected a positive value, 0 (copy) or -1 (infer)")
                constantCount *= Int(d)
            }
        }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0], n = b.numAxes
        let p = param.reshapeParam
        let inputStart = Int(p.axis)
        let start = inputStart >= 0 ? inputStart : n + inputStart + 1
        try require(start >= 0 && start <= n,
                    "\(label): reshape_param.axis \(inputStart) is out of range for \(n)-D bottom \(b.shape)")
        let numAxes = Int(p.numAxes)
        try require(numAxes >= -1, "\(label): reshape_param.num_axes must be >= 0, or -1 for all, got \(numAxes)")
        let end = numAxes == -1 ? n : start + numAxes
        try require(end <= n, "\(label): end_axis = axis + num_axes = \(end) is out of range for \(n)-D bottom \(b.shape)")
        let newDims = p.shape.dim.map { Int($0) }
        var shape = Array(b.shape[..<start]) + newDims + Array(b.shape[end...])
        for c in copyAxes {
            try require(start + c < n,
                        "\(label): new shape contains a 0 at position \(c), but there is no corresponding bottom axis to copy (bottom \(b.shape))")
            shape[start + c] = b.shape[start + c]
        }
        if let inf = inferredAxis {
            var explicit = constantCount * b.count(0, start) * b.count(from: end)
            for c in copyAxes { explicit *= shape[start + c] }
            try require(explicit > 0 && b.count % explicit == 0,
                        "\(label): bottom count (\(b.count)) must be divisible by the product of the specified dimensions (\(explicit))")
            shape[start + inf] = b.count / explicit
        }
        let count = shape.reduce(1, *)
        try require(count == b.count,
                    "\(label): output count must match input count: bottom \(b.shape) (\(b.count)) cannot become \(shape) (\(count))")
        top[0].shareData(b)
        top[0].shareDiff(b)
        try top[0].reshape(shape)
    }

    // The top is the bottom's memory: nothing to compute either way.
    override public func forward(bottom: [Blob], top: [Blob]) throws {}
}
