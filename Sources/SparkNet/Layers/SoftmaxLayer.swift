import CaffeProto
import Foundation

/// Caffe's Softmax layer: normalised exponentials along `axis` (default 1). The input is viewed
/// as (outer, C, inner); each of the outer·inner positions gets its own distribution over C.
/// In place allowed: backward uses only the top data and diff.
public final class SoftmaxLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var outer = 1, channels = 1, inner = 1

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        (outer, channels, inner) = try softmaxGeometry(bottom[0], axis: Int(param.softmaxParam.axis), label: label)
        try top[0].reshapeLike(bottom[0])
        try context.workspace.reserve(inner)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        softmaxForward(outer, channels, inner, bottom[0].data, top[0].data, scratch: context.workspace.buffer(inner))
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        // dx = (dy − Σ_c dy·y) · y, per position.
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        let s = context.workspace.buffer(inner)
        let dim = channels * inner
        for o in 0..<outer {
            let yo = y + o * dim, dyo = dy + o * dim, dxo = dx + o * dim
            setAll(inner, 0, s)
            for c in 0..<channels {
                for j in 0..<inner { s[j] += dyo[c * inner + j] * yo[c * inner + j] }
            }
            for c in 0..<channels {
                for j in 0..<inner { dxo[c * inner + j] = (dyo[c * inner + j] - s[j]) * yo[c * inner + j] }
            }
        }
    }
}

/// (outer, channels, inner) of `blob` around `axis`, or an error naming the layer.
func softmaxGeometry(_ blob: Blob, axis a: Int, label: String) throws -> (Int, Int, Int) {
    let n = blob.numAxes
    try require(a >= -n && a < n, "\(label): softmax axis \(a) is out of range for bottom of shape \(blob.shape)")
    let axis = blob.canonicalAxis(a)
    return (blob.count(0, axis), blob.shape[axis], blob.count(from: axis + 1))
}

/// y = softmax(x) over the middle axis of (outer, C, inner); x and y may alias.
/// `scratch` holds `inner` floats (the running max, then the running sum).
func softmaxForward(_ outer: Int, _ channels: Int, _ inner: Int,
                    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    scratch s: UnsafeMutablePointer<Float>) {
    let dim = channels * inner
    for o in 0..<outer {
        let xo = x + o * dim, yo = y + o * dim
        // Subtract the max for numerical stability, as Caffe does.
        copy(inner, xo, s)
        for c in 1..<max(channels, 1) {
            for j in 0..<inner { s[j] = max(s[j], xo[c * inner + j]) }
        }
        for c in 0..<channels {
            for j in 0..<inner { yo[c * inner + j] = expf(xo[c * inner + j] - s[j]) }
        }
        setAll(inner, 0, s)
        for c in 0..<channels {
            for j in 0..<inner { s[j] += yo[c * inner + j] }
        }
        for c in 0..<channels {
            for j in 0..<inner { yo[c * inner + j] /= s[j] }
        }
    }
}
