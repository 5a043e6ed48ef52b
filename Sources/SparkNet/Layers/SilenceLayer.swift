import CaffeProto

/// Caffe's Silence layer: consumes bottoms so they are not reported as net outputs; it has no
/// tops, and its backward gives the bottoms a zero gradient.
public final class SilenceLayer: Layer {
    override public var minBottoms: Int? { 1 }
    override public var exactTops: Int? { 0 }

    override public func forward(bottom: [Blob], top: [Blob]) throws {}

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        for (i, b) in bottom.enumerated() where propagateDown[i] { b.zeroDiff() }
    }
}
