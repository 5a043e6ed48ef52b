import CaffeProto

/// Caffe's Flatten layer: merges the axes `axis`…`end_axis` (default 1…-1) into one.
/// The top is a view: it shares the bottom's data and diff, as in Caffe.
public final class FlattenLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        try require(top[0] !== bottom[0], "\(label): does not allow in-place computation")
        let b = bottom[0], n = b.numAxes
        let p = param.flattenParam
        let a = Int(p.axis), e = Int(p.endAxis)
        try require(a >= -n && a < n, "\(label): flatten_param.axis \(a) is out of range for bottom of shape \(b.shape)")
        try require(e >= -n && e < n, "\(label): flatten_param.end_axis \(e) is out of range for bottom of shape \(b.shape)")
        let start = b.canonicalAxis(a), end = b.canonicalAxis(e)
        try require(start <= end, "\(label): flatten_param.axis (\(start)) must not come after end_axis (\(end)) for bottom of shape \(b.shape)")
        let shape = Array(b.shape[..<start]) + [b.count(start, end + 1)] + Array(b.shape[(end + 1)...])
        top[0].shareData(b)
        top[0].shareDiff(b)
        try top[0].reshape(shape)
    }

    // The top is the bottom's memory: nothing to compute either way.
    override public func forward(bottom: [Blob], top: [Blob]) throws {}
}
