import CaffeProto

/// Layer classes keyed by Caffe's type string, as Caffe's LayerRegistry.
public enum LayerRegistry {
    public static let types: [String: Layer.Type] = [
        "Input": InputLayer.self,
        "HDF5Data": HDF5DataLayer.self,
        // Caffe's Data (LMDB) and ImageData layers are the same layer: only the source differs.
        "Data": HDF5DataLayer.self,
        "ImageData": HDF5DataLayer.self,
        "Convolution": ConvolutionLayer.self,
        "Pooling": PoolingLayer.self,
        "LRN": LRNLayer.self,
        "BatchNorm": BatchNormLayer.self,
        "Scale": ScaleLayer.self,
        "InnerProduct": InnerProductLayer.self,
        "Concat": ConcatLayer.self,
        "Eltwise": EltwiseLayer.self,
        "Flatten": FlattenLayer.self,
        "Reshape": ReshapeLayer.self,
        "Split": SplitLayer.self,
        "Dropout": DropoutLayer.self,
        "Silence": SilenceLayer.self,
        "ReLU": ReLULayer.self,
        "Sigmoid": SigmoidLayer.self,
        "TanH": TanHLayer.self,
        "Softmax": SoftmaxLayer.self,
        "SoftmaxWithLoss": SoftmaxWithLossLayer.self,
        "Accuracy": AccuracyLayer.self,
        "EuclideanLoss": EuclideanLossLayer.self,
    ]

    /// Creates the layer `param.type` names, or throws naming the layer and the type.
    public static func make(_ param: Caffe_LayerParameter, phase: Caffe_Phase,
                            context: NetContext) throws -> Layer {
        guard let type = types[param.type] else {
            let known = types.keys.sorted().joined(separator: ", ")
            throw SparkNetError("layer '\(param.name)': unsupported layer type '\(param.type)' (supported: \(known))")
        }
        return try type.init(param: param, phase: phase, context: context)
    }
}
