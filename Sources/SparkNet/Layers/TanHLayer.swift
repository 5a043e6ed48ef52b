import CaffeProto
import Foundation

/// Caffe's TanH layer: y = tanh(x). Backward uses only the top data (dy·(1−y²)), so in place is
/// allowed.
public final class TanHLayer: NeuronLayer {
    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let n = bottom[0].count, x = bottom[0].data, y = top[0].data
        for i in 0..<n { y[i] = tanhf(x[i]) }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        let n = top[0].count, y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        for i in 0..<n { dx[i] = dy[i] * (1 - y[i] * y[i]) }
    }
}
