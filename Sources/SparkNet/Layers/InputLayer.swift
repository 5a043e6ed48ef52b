import CaffeProto

/// Caffe's Input layer: tops whose values are set from outside (deploy nets, tests). Each top
/// is shaped by `input_param.shape`: one shape for all tops or one per top. Forward does nothing.
public final class InputLayer: Layer {
    override public var exactBottoms: Int? { 0 }
    override public var minTops: Int? { 1 }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shapes = param.inputParam.shape
        try require(shapes.isEmpty || shapes.count == 1 || shapes.count == top.count,
                    "\(label): input_param must specify 'shape' once, once per top blob, or not at all: \(top.count) tops vs. \(shapes.count) shapes")
        guard !shapes.isEmpty else { return }
        for (i, t) in top.enumerated() {
            let dims = shapes[shapes.count == 1 ? 0 : i].dim
            try require(dims.allSatisfy { $0 >= 0 && $0 <= Int64(Int32.max) },
                        "\(label): input_param.shape \(dims) for top \(i) has a negative or too large dimension")
            // Caffe's Blob::Reshape limit, checked before anything is allocated.
            // Capped at 2^31 after each axis (≤ 2^31 − 1), so the product cannot overflow.
            let count = dims.reduce(Int64(1)) { min($0 * $1, Int64(Int32.max) + 1) }
            try require(count <= Int64(Int32.max),
                        "\(label): input_param.shape \(dims) for top \(i) holds more than INT_MAX (2147483647) values, Caffe's limit for a blob")
            try t.reshape(dims.map { Int($0) })
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {}
}
