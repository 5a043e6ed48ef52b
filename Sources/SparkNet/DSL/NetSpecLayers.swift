import CaffeProto

// The DSL's layer values, one per Caffe type. Each takes its name first (required: no layer
// without one), then `bottom:`/`top:` (or `bottoms:`/`tops:`), then the fields Caffe requires
// (also required here), then optional fields, written only when given, so a DSL net equals its
// prototxt twin field for field. Anything else: `.with { $0.convolutionParam.kernelH = 3 }`.

/// `HDF5Data`: reads the datasets named by `tops` from the HDF5 files listed in `source`
/// (or from the `BatchSource` an embedding program passes to `Model`).
public struct HDF5Data: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, tops: [BlobRef], source: String? = nil, batchSize: Int, shuffle: Bool? = nil) {
        definition = LayerDefinition(name, type: "HDF5Data", bottoms: [], tops: tops)
        var p = Caffe_HDF5DataParameter()
        if let source { p.source = source }
        p.batchSize = UInt32(clamping: batchSize)
        if let shuffle { p.shuffle = shuffle }
        definition.param.hdf5DataParam = p
    }
}

/// `Input`: tops with fixed shapes, filled from outside (`["data": [64, 1, 28, 28], "label": [64]]`).
public struct Input: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, shapes: KeyValuePairs<BlobRef, [Int]>) {
        definition = LayerDefinition(name, type: "Input", bottoms: [], tops: shapes.map(\.key))
        var p = Caffe_InputParameter()
        p.shape = shapes.map { var s = Caffe_BlobShape(); s.dim = $0.value.map(Int64.init); return s }
        definition.param.inputParam = p
    }
}

/// `Convolution` with square kernels, strides and padding (`num_output`, `kernel_size` required).
public struct Convolution: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, outputs: Int, kernel: Int,
                stride: Int? = nil, pad: Int? = nil, group: Int? = nil, biasTerm: Bool? = nil,
                weightFiller: Caffe_FillerParameter? = nil, biasFiller: Caffe_FillerParameter? = nil) {
        definition = LayerDefinition(name, type: "Convolution", bottom: bottom, top: top)
        var p = Caffe_ConvolutionParameter()
        p.numOutput = UInt32(clamping: outputs)
        p.kernelSize = [UInt32(clamping: kernel)]
        if let stride { p.stride = [UInt32(clamping: stride)] }
        if let pad { p.pad = [UInt32(clamping: pad)] }
        if let group { p.group = UInt32(clamping: group) }
        if let biasTerm { p.biasTerm = biasTerm }
        if let weightFiller { p.weightFiller = weightFiller }
        if let biasFiller { p.biasFiller = biasFiller }
        definition.param.convolutionParam = p
    }
}

/// `Pooling` (MAX, AVE or STOCHASTIC) over square windows.
public struct Pooling: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, _ method: Caffe_PoolingParameter.PoolMethod, bottom: BlobRef? = nil, top: BlobRef? = nil,
                kernel: Int, stride: Int? = nil, pad: Int? = nil) {
        definition = LayerDefinition(name, type: "Pooling", bottom: bottom, top: top)
        var p = Caffe_PoolingParameter()
        p.pool = method
        p.kernelSize = UInt32(clamping: kernel)
        if let stride { p.stride = UInt32(clamping: stride) }
        if let pad { p.pad = UInt32(clamping: pad) }
        definition.param.poolingParam = p
    }

    /// Global pooling: one value per channel (`global_pooling: true`).
    public init(_ name: String, global method: Caffe_PoolingParameter.PoolMethod, bottom: BlobRef? = nil, top: BlobRef? = nil) {
        definition = LayerDefinition(name, type: "Pooling", bottom: bottom, top: top)
        var p = Caffe_PoolingParameter()
        p.pool = method
        p.globalPooling = true
        definition.param.poolingParam = p
    }
}

/// `InnerProduct` (fully connected, `num_output` required).
public struct InnerProduct: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, outputs: Int, biasTerm: Bool? = nil,
                weightFiller: Caffe_FillerParameter? = nil, biasFiller: Caffe_FillerParameter? = nil) {
        definition = LayerDefinition(name, type: "InnerProduct", bottom: bottom, top: top)
        var p = Caffe_InnerProductParameter()
        p.numOutput = UInt32(clamping: outputs)
        if let biasTerm { p.biasTerm = biasTerm }
        if let weightFiller { p.weightFiller = weightFiller }
        if let biasFiller { p.biasFiller = biasFiller }
        definition.param.innerProductParam = p
    }
}

/// `ReLU`, in place unless `top:` is given (leaky with `negativeSlope`).
public struct ReLU: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, negativeSlope: Float? = nil) {
        definition = LayerDefinition(name, type: "ReLU", bottom: bottom, top: top, inPlace: true)
        if let negativeSlope { definition.param.reluParam.negativeSlope = negativeSlope }
    }
}

/// `BatchNorm`, in place unless `top:` is given. Its three blobs are statistics: give them
/// `.param(lr: 0)` three times, as Caffe's nets do.
public struct BatchNorm: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, useGlobalStats: Bool? = nil,
                movingAverageFraction: Float? = nil, eps: Float? = nil) {
        definition = LayerDefinition(name, type: "BatchNorm", bottom: bottom, top: top, inPlace: true)
        if let useGlobalStats { definition.param.batchNormParam.useGlobalStats = useGlobalStats }
        if let movingAverageFraction { definition.param.batchNormParam.movingAverageFraction = movingAverageFraction }
        if let eps { definition.param.batchNormParam.eps = eps }
    }
}

/// `Scale` by a learned per-channel factor (plus a learned bias with `biasTerm: true`), in place
/// unless `top:` is given.
public struct Scale: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, biasTerm: Bool? = nil,
                filler: Caffe_FillerParameter? = nil, biasFiller: Caffe_FillerParameter? = nil) {
        definition = LayerDefinition(name, type: "Scale", bottom: bottom, top: top, inPlace: true)
        if let biasTerm { definition.param.scaleParam.biasTerm = biasTerm }
        if let filler { definition.param.scaleParam.filler = filler }
        if let biasFiller { definition.param.scaleParam.biasFiller = biasFiller }
    }
}

/// `Eltwise`: elementwise SUM (optionally weighted by `coefficients`), PROD or MAX of `bottoms`.
public struct Eltwise: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottoms: [BlobRef], top: BlobRef? = nil,
                operation: Caffe_EltwiseParameter.EltwiseOp? = nil, coefficients: [Float] = []) {
        definition = LayerDefinition(name, type: "Eltwise", bottoms: bottoms, tops: top.map { [$0] } ?? [])
        if let operation { definition.param.eltwiseParam.operation = operation }
        if !coefficients.isEmpty { definition.param.eltwiseParam.coeff = coefficients }
    }
}

/// `Concat`: `bottoms` joined along `axis` (Caffe's default: channels).
public struct Concat: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottoms: [BlobRef], top: BlobRef? = nil, axis: Int? = nil) {
        definition = LayerDefinition(name, type: "Concat", bottoms: bottoms, tops: top.map { [$0] } ?? [])
        if let axis { definition.param.concatParam.axis = Int32(clamping: axis) }
    }
}

/// `LRN`: local response normalisation across channels (or within a channel).
public struct LRN: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, localSize: Int? = nil,
                alpha: Float? = nil, beta: Float? = nil, k: Float? = nil,
                region: Caffe_LRNParameter.NormRegion? = nil) {
        definition = LayerDefinition(name, type: "LRN", bottom: bottom, top: top)
        var p = Caffe_LRNParameter()
        if let localSize { p.localSize = UInt32(clamping: localSize) }
        if let alpha { p.alpha = alpha }
        if let beta { p.beta = beta }
        if let k { p.k = k }
        if let region { p.normRegion = region }
        definition.param.lrnParam = p
    }
}

/// `Dropout` (training only; the identity in TEST), in place unless `top:` is given.
public struct Dropout: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, ratio: Float? = nil) {
        definition = LayerDefinition(name, type: "Dropout", bottom: bottom, top: top, inPlace: true)
        if let ratio { definition.param.dropoutParam.dropoutRatio = ratio }
    }
}

/// `Softmax` over `axis` (Caffe's default: channels).
public struct Softmax: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottom: BlobRef? = nil, top: BlobRef? = nil, axis: Int? = nil) {
        definition = LayerDefinition(name, type: "Softmax", bottom: bottom, top: top)
        if let axis { definition.param.softmaxParam.axis = Int32(clamping: axis) }
    }
}

/// `SoftmaxWithLoss`: bottoms are the scores and the labels.
public struct SoftmaxWithLoss: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottoms: [BlobRef], top: BlobRef? = nil) {
        definition = LayerDefinition(name, type: "SoftmaxWithLoss", bottoms: bottoms, tops: top.map { [$0] } ?? [])
    }
}

/// `Accuracy`: bottoms are the scores and the labels; `topK` counts a hit among the k best.
public struct Accuracy: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, bottoms: [BlobRef], top: BlobRef? = nil, topK: Int? = nil) {
        definition = LayerDefinition(name, type: "Accuracy", bottoms: bottoms, tops: top.map { [$0] } ?? [])
        if let topK { definition.param.accuracyParam.topK = UInt32(clamping: topK) }
    }
}

/// Any other Caffe layer type by its type string, with explicit bottoms and tops; set its
/// parameters with `.with { ... }`.
public struct CaffeLayer: LayerSpec {
    public var definition: LayerDefinition
    public init(_ name: String, type: String, bottoms: [BlobRef], tops: [BlobRef]) {
        definition = LayerDefinition(name, type: type, bottoms: bottoms, tops: tops)
    }
}
