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
        // dx = Σ_i dy_i, a block at a time (the block stays in cache between the tops' passes),
        // blocks split over the threads: a residual net's splits were serial, 1.9 ms a step
        // of ResNet-style at either thread count. The same adds in the same order: same bits.
        let dx = bottom[0].diff, dys = top.map { UnsafePointer($0.diff) }
        Parallel.forEachBlock(bottom[0].count) { r in
            copy(r.count, dys[0] + r.lowerBound, dx + r.lowerBound)
            for dy in dys.dropFirst() { axpy(r.count, 1, dy + r.lowerBound, dx + r.lowerBound) }
        }
    }
}
