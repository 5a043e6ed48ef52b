import CaffeProto
import Foundation

/// Caffe's ReLU layer: y = max(x, 0) + negative_slope · min(x, 0). In place allowed: backward
/// reads the sign from the bottom data, which in place is the top data (same sign for slope ≥ 0).
public final class ReLULayer: NeuronLayer {
    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let n = bottom[0].count, x = bottom[0].data, y = top[0].data
        let slope = param.reluParam.negativeSlope
        Parallel.forEachSlice(n) { r in
            if slope == 0 {
                for i in r { y[i] = max(x[i], 0) }
            } else {
                for i in r { y[i] = max(x[i], 0) + slope * min(x[i], 0) }
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        let n = bottom[0].count, x = bottom[0].data, dy = top[0].diff, dx = bottom[0].diff
        let slope = param.reluParam.negativeSlope
        Parallel.forEachSlice(n) { r in
            for i in r { dx[i] = dy[i] * (x[i] > 0 ? 1 : slope) }
        }
    }
}
