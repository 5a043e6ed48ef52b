import CaffeProto

/// Caffe's Split layer: gives one bottom to several consumers (the Net inserts it wherever a blob
/// feeds more than one). The tops share the bottom's data, so forward does nothing; each top has
/// its own diff, and backward sums them into the bottom's.
public final class SplitLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var minTops: Int? { 1 }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        for t in top {
            try require(t !== bottom[0], "\(label): does not allow in-place computation")
            t.shareData(bottom[0])
            try t.reshapeLike(bottom[0])
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {}

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        // dx = Σ_i dy_i
        let n = bottom[0].count, dx = bottom[0].diff
        copy(n, top[0].diff, dx)
        for t in top.dropFirst() { axpy(n, 1, t.diff, dx) }
    }
}
