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
            // Caffe's Blob::Reshape limits, checked before anything is allocated; the message
            // names the field rather than the blob.
            do {
                _ = try Blob.checkedCount(dims.map { Int($0) })
            } catch let e as BlobSizeError {
                throw SparkNetError("\(label): input_param.shape \(dims) for top \(i) \(e.reason)")
            }
            try t.reshape(dims.map { Int($0) })
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {}
}
