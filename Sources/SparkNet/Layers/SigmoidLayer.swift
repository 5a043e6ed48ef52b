import CaffeProto
import Foundation

/// Caffe's Sigmoid layer: y = 1 / (1 + e^−x), computed as 0.5·tanh(0.5x) + 0.5 (no overflow).
/// Backward uses only the top data (dy·y·(1−y)), so in place is allowed.
public final class SigmoidLayer: NeuronLayer {
    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let n = bottom[0].count, x = bottom[0].data, y = top[0].data
        for i in 0..<n { y[i] = 0.5 * tanhf(0.5 * x[i]) + 0.5 }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        let n = top[0].count, y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        for i in 0..<n { dx[i] = dy[i] * y[i] * (1 - y[i]) }
    }
}
