import CaffeProto

/// Caffe's UpgradeNetAsNeeded (upgrade_proto.cpp): brings a NetParameter written for an older
/// Caffe to the current format, in Caffe's order:
/// 1. V0 layers (`layers { layer { type: "conv" ... } }`) → V1 layers, padding layers folded in;
/// 2. data-transform fields of V1 data layers (scale, mean_file, crop_size, mirror) → `transform_param`;
/// 3. V1 `layers` (enum types, blobs_lr, weight_decay) → `layer` (string types, ParamSpec);
/// 4. net-level `input`/`input_shape`/`input_dim` → an "Input" layer named "input" at the front;
/// 5. BatchNorm layers declaring 3 `param`s → lr_mult and decay_mult 0.
///
/// Where Caffe aborts (LOG(FATAL)/CHECK) this throws; where Caffe logs "continuing anyway"
/// (a V0 parameter the layer type does not have) the message goes to `log` and the upgrade goes on.
public enum NetUpgrade {
    /// Returns `param` in the current format. `source` names the file (or net) in messages.
    public static func upgrade(_ param: Caffe_NetParameter, source: String,
                               log: ((String) -> Void)? = nil) throws -> Caffe_NetParameter {
        var p = param
        let what = source.isEmpty ? "net" : source
        if needsV0Upgrade(p) {
            log?("Attempting to upgrade input file specified using deprecated V0LayerParameter: \(what)")
            p = try upgradeV0Net(p, source: what, log: log)
        }
        if needsDataUpgrade(p) {
            log?("Attempting to upgrade input file specified using deprecated transformation parameters: \(what)")
            upgradeDataTransformation(&p)
        }
        if !p.layers.isEmpty {
            log?("Attempting to upgrade input file specified using deprecated V1LayerParameter: \(what)")
            p = try upgradeV1Net(p, source: what, log: log)
        }
        if !p.input.isEmpty {
            try upgradeInput(&p, source: what)
        }
        upgradeBatchNorm(&p)
        return p
    }

    /// Whether `param` uses any deprecated field `upgrade` rewrites.
    public static func needsUpgrade(_ param: Caffe_NetParameter) -> Bool {
        !param.layers.isEmpty || !param.input.isEmpty ||
            param.layer.contains { $0.type == "BatchNorm" && $0.param.count == 3 }
    }

    // MARK: V0 → V1

    static func needsV0Upgrade(_ p: Caffe_NetParameter) -> Bool {
        p.layers.contains { $0.hasLayer }
    }

    /// Caffe's UpgradeV0Net: padding layers first, then each V0 layer; keeps only name, inputs
    /// and force_backward of the net, as Caffe does.
    static func upgradeV0Net(_ v0: Caffe_NetParameter, source: String,
                             log: ((String) -> Void)?) throws -> Caffe_NetParameter {
        let padded = try upgradeV0PaddingLayers(v0, source: source)
        var net = Caffe_NetParameter()
        if padded.hasName { net.name = padded.name }
        for (i, l) in padded.layers.enumerated() {
            net.layers.append(try upgradeV0Layer(l, index: i, source: source, log: log))
        }
        net.input = padded.input
        net.inputDim = padded.inputDim
        if padded.hasForceBackward { net.forceBackward = padded.forceBackward }
        return net
    }

    /// Caffe's UpgradeV0PaddingLayers: drops each "padding" layer and gives its `pad` to the conv
    /// or pool layer that reads its output, rewired to the padding layer's input.
    static func upgradeV0PaddingLayers(_ p: Caffe_NetParameter, source: String) throws -> Caffe_NetParameter {
        var out = p
        out.layers = []
        var lastTop: [String: Int] = [:]  // blob name -> index of the layer that last wrote it (-1: net input)
        for name in p.input { lastTop[name] = -1 }
        for (i, connection) in p.layers.enumerated() {
            let v0 = connection.layer
            if v0.type != "padding" { out.layers.append(connection) }
            for (j, blob) in connection.bottom.enumerated() {
                guard let topIndex = lastTop[blob] else {
                    throw SparkNetError("\(source): V0 layer '\(v0.name)': unknown bottom blob '\(blob)' (no net input or earlier layer produces it)")
                }
                guard topIndex >= 0 else { continue }
                let sourceLayer = p.layers[topIndex]
                guard sourceLayer.layer.type == "padding" else { continue }
                try require(v0.type == "conv" || v0.type == "pool",
                            "\(source): V0 padding layer '\(sourceLayer.layer.name)' feeds layer '\(v0.name)' of type '\(v0.type)', expected a 'conv' or 'pool' layer")
                try require(connection.bottom.count == 1,
                            "\(source): V0 layer '\(v0.name)' reads a padding layer, so it must have 1 bottom, has \(connection.bottom.count)")
                try require(sourceLayer.bottom.count == 1 && sourceLayer.top.count == 1,
                            "\(source): V0 padding layer '\(sourceLayer.layer.name)' must have 1 bottom and 1 top, has \(sourceLayer.bottom.count) and \(sourceLayer.top.count)")
                let last = out.layers.count - 1
                out.layers[last].layer.pad = sourceLayer.layer.pad
                out.layers[last].bottom[j] = sourceLayer.bottom[0]
            }
            for blob in connection.top { lastTop[blob] = i }
        }
        return out
    }

    /// Caffe's UpgradeV0LayerParameter: the V0 layer's flat fields go to the V1 layer's typed
    /// `*_param` messages. A field the V0 type has no place for is logged and dropped.
    static func upgradeV0Layer(_ connection: Caffe_V1LayerParameter, index: Int, source: String,
                               log: ((String) -> Void)?) throws -> Caffe_V1LayerParameter {
        var l = Caffe_V1LayerParameter()
        l.bottom = connection.bottom
        l.top = connection.top
        guard connection.hasLayer else { return l }
        let v0 = connection.layer
        let type = v0.type
        if v0.hasName { l.name = v0.name }
        if v0.hasType { l.type = try v0LayerType(type, layer: v0.name, source: source) }
        l.blobs = v0.blobs
        l.blobsLr = v0.blobsLr
        l.weightDecay = v0.weightDecay
        func unknown(_ field: String) {
            log?("\(source): V0 layer '\(v0.name)': unknown parameter \(field) for layer type \(type); dropped")
        }
        if v0.hasNumOutput {
            if type == "conv" { l.convolutionParam.numOutput = v0.numOutput }
            else if type == "innerproduct" { l.innerProductParam.numOutput = v0.numOutput }
            else { unknown("num_output") }
        }
        if v0.hasBiasterm {
            if type == "conv" { l.convolutionParam.biasTerm = v0.biasterm }
            else if type == "innerproduct" { l.innerProductParam.biasTerm = v0.biasterm }
            else { unknown("biasterm") }
        }
        if v0.hasWeightFiller {
            if type == "conv" { l.convolutionParam.weightFiller = v0.weightFiller }
            else if type == "innerproduct" { l.innerProductParam.weightFiller = v0.weightFiller }
            else { unknown("weight_filler") }
        }
        if v0.hasBiasFiller {
            if type == "conv" { l.convolutionParam.biasFiller = v0.biasFiller }
            else if type == "innerproduct" { l.innerProductParam.biasFiller = v0.biasFiller }
            else { unknown("bias_filler") }
        }
        if v0.hasPad {
            if type == "conv" { l.convolutionParam.pad.append(v0.pad) }
            else if type == "pool" { l.poolingParam.pad = v0.pad }
            else { unknown("pad") }
        }
        if v0.hasKernelsize {
            if type == "conv" { l.convolutionParam.kernelSize.append(v0.kernelsize) }
            else if type == "pool" { l.poolingParam.kernelSize = v0.kernelsize }
            else { unknown("kernelsize") }
        }
        if v0.hasGroup {
            if type == "conv" { l.convolutionParam.group = v0.group } else { unknown("group") }
        }
        if v0.hasStride {
            if type == "conv" { l.convolutionParam.stride.append(v0.stride) }
            else if type == "pool" { l.poolingParam.stride = v0.stride }
            else { unknown("stride") }
        }
        if v0.hasPool {
            if type == "pool" {
                switch v0.pool {
                case .max: l.poolingParam.pool = .max
                case .ave: l.poolingParam.pool = .ave
                case .stochastic: l.poolingParam.pool = .stochastic
                }
            } else { unknown("pool") }
        }
        if v0.hasDropoutRatio {
            if type == "dropout" { l.dropoutParam.dropoutRatio = v0.dropoutRatio } else { unknown("dropout_ratio") }
        }
        if v0.hasLocalSize {
            if type == "lrn" { l.lrnParam.localSize = v0.localSize } else { unknown("local_size") }
        }
        if v0.hasAlpha {
            if type == "lrn" { l.lrnParam.alpha = v0.alpha } else { unknown("alpha") }
        }
        if v0.hasBeta {
            if type == "lrn" { l.lrnParam.beta = v0.beta } else { unknown("beta") }
        }
        if v0.hasK {
            if type == "lrn" { l.lrnParam.k = v0.k } else { unknown("k") }
        }
        if v0.hasSource {
            switch type {
            case "data": l.dataParam.source = v0.source
            case "hdf5_data": l.hdf5DataParam.source = v0.source
            case "images": l.imageDataParam.source = v0.source
            case "window_data": l.windowDataParam.source = v0.source
            case "infogain_loss": l.infogainLossParam.source = v0.source
            default: unknown("source")
            }
        }
        if v0.hasScale { l.transformParam.scale = v0.scale }
        if v0.hasMeanfile { l.transformParam.meanFile = v0.meanfile }
        if v0.hasBatchsize {
            switch type {
            case "data": l.dataParam.batchSize = v0.batchsize
            case "hdf5_data": l.hdf5DataParam.batchSize = v0.batchsize
            case "images": l.imageDataParam.batchSize = v0.batchsize
            case "window_data": l.windowDataParam.batchSize = v0.batchsize
            default: unknown("batchsize")
            }
        }
        if v0.hasCropsize { l.transformParam.cropSize = v0.cropsize }
        if v0.hasMirror { l.transformParam.mirror = v0.mirror }
        if v0.hasRandSkip {
            if type == "data" { l.dataParam.randSkip = v0.randSkip }
            else if type == "images" { l.imageDataParam.randSkip = v0.randSkip }
            else { unknown("rand_skip") }
        }
        if v0.hasShuffleImages {
            if type == "images" { l.imageDataParam.shuffle = v0.shuffleImages } else { unknown("shuffle") }
        }
        if v0.hasNewHeight {
            if type == "images" { l.imageDataParam.newHeight = UInt32(clamping: v0.newHeight) } else { unknown("new_height") }
        }
        if v0.hasNewWidth {
            if type == "images" { l.imageDataParam.newWidth = UInt32(clamping: v0.newWidth) } else { unknown("new_width") }
        }
        if v0.hasConcatDim {
            if type == "concat" { l.concatParam.concatDim = v0.concatDim } else { unknown("concat_dim") }
        }
        if v0.hasDetFgThreshold {
            if type == "window_data" { l.windowDataParam.fgThreshold = v0.detFgThreshold } else { unknown("det_fg_threshold") }
        }
        if v0.hasDetBgThreshold {
            if type == "window_data" { l.windowDataParam.bgThreshold = v0.detBgThreshold } else { unknown("det_bg_threshold") }
        }
        if v0.hasDetFgFraction {
            if type == "window_data" { l.windowDataParam.fgFraction = v0.detFgFraction } else { unknown("det_fg_fraction") }
        }
        if v0.hasDetContextPad {
            if type == "window_data" { l.windowDataParam.contextPad = v0.detContextPad } else { unknown("det_context_pad") }
        }
        if v0.hasDetCropMode {
            if type == "window_data" { l.windowDataParam.cropMode = v0.detCropMode } else { unknown("det_crop_mode") }
        }
        if v0.hasHdf5OutputParam {
            if type == "hdf5_output" { l.hdf5OutputParam = v0.hdf5OutputParam } else { unknown("hdf5_output_param") }
        }
        return l
    }

    /// Caffe's UpgradeV0LayerType: V0's lower-case type names → the V1 enum.
    static func v0LayerType(_ type: String, layer: String, source: String) throws -> Caffe_V1LayerParameter.LayerType {
        let table: [String: Caffe_V1LayerParameter.LayerType] = [
            "accuracy": .accuracy, "bnll": .bnll, "concat": .concat, "conv": .convolution,
            "data": .data, "dropout": .dropout, "euclidean_loss": .euclideanLoss, "flatten": .flatten,
            "hdf5_data": .hdf5Data, "hdf5_output": .hdf5Output, "im2col": .im2Col, "images": .imageData,
            "infogain_loss": .infogainLoss, "innerproduct": .innerProduct, "lrn": .lrn,
            "multinomial_logistic_loss": .multinomialLogisticLoss, "pool": .pooling, "relu": .relu,
            "sigmoid": .sigmoid, "softmax": .softmax, "softmax_loss": .softmaxLoss, "split": .split,
            "tanh": .tanh, "window_data": .windowData,
        ]
        guard let t = table[type] else {
            throw SparkNetError("\(source): V0 layer '\(layer)': unknown layer type '\(type)' (known V0 types: \(table.keys.sorted().joined(separator: ", ")))")
        }
        return t
    }

    // MARK: Data transformation

    static func needsDataUpgrade(_ p: Caffe_NetParameter) -> Bool {
        p.layers.contains { l in
            switch l.type {
            case .data:
                let d = l.dataParam
                return d.hasScale || d.hasMeanFile || d.hasCropSize || d.hasMirror
            case .imageData:
                let d = l.imageDataParam
                return d.hasScale || d.hasMeanFile || d.hasCropSize || d.hasMirror
            case .windowData:
                let d = l.windowDataParam
                return d.hasScale || d.hasMeanFile || d.hasCropSize || d.hasMirror
            default:
                return false
            }
        }
    }

    /// Caffe's UpgradeNetDataTransformation: moves scale/mean_file/crop_size/mirror out of the
    /// data, image-data and window-data params of V1 layers into `transform_param`.
    static func upgradeDataTransformation(_ p: inout Caffe_NetParameter) {
        for i in p.layers.indices {
            var l = p.layers[i]
            switch l.type {
            case .data:
                if l.dataParam.hasScale { l.transformParam.scale = l.dataParam.scale; l.dataParam.clearScale() }
                if l.dataParam.hasMeanFile { l.transformParam.meanFile = l.dataParam.meanFile; l.dataParam.clearMeanFile() }
                if l.dataParam.hasCropSize { l.transformParam.cropSize = l.dataParam.cropSize; l.dataParam.clearCropSize() }
                if l.dataParam.hasMirror { l.transformParam.mirror = l.dataParam.mirror; l.dataParam.clearMirror() }
            case .imageData:
                if l.imageDataParam.hasScale { l.transformParam.scale = l.imageDataParam.scale; l.imageDataParam.clearScale() }
                if l.imageDataParam.hasMeanFile { l.transformParam.meanFile = l.imageDataParam.meanFile; l.imageDataParam.clearMeanFile() }
                if l.imageDataParam.hasCropSize { l.transformParam.cropSize = l.imageDataParam.cropSize; l.imageDataParam.clearCropSize() }
                if l.imageDataParam.hasMirror { l.transformParam.mirror = l.imageDataParam.mirror; l.imageDataParam.clearMirror() }
            case .windowData:
                if l.windowDataParam.hasScale { l.transformParam.scale = l.windowDataParam.scale; l.windowDataParam.clearScale() }
                if l.windowDataParam.hasMeanFile { l.transformParam.meanFile = l.windowDataParam.meanFile; l.windowDataParam.clearMeanFile() }
                if l.windowDataParam.hasCropSize { l.transformParam.cropSize = l.windowDataParam.cropSize; l.windowDataParam.clearCropSize() }
                if l.windowDataParam.hasMirror { l.transformParam.mirror = l.windowDataParam.mirror; l.windowDataParam.clearMirror() }
            default:
                continue
            }
            p.layers[i] = l
        }
    }

    // MARK: V1 → V2

    /// Caffe's UpgradeV1Net: every V1 layer becomes a LayerParameter; the rest of the net is kept.
    static func upgradeV1Net(_ v1: Caffe_NetParameter, source: String,
                             log: ((String) -> Void)?) throws -> Caffe_NetParameter {
        try require(v1.layer.isEmpty,
                    "\(source): refusing to upgrade an inconsistent NetParameter: the definition has both 'layer' (\(v1.layer.count)) and 'layers' (\(v1.layers.count)) fields; expected only 'layer { type: \"Layer\" ... }' (current format) or only 'layers { type: LAYER ... }' (V1). Switch the definition to the 'layer' format by hand")
        var net = v1
        net.layers = []
        net.layer = []
        for (i, l) in v1.layers.enumerated() {
            if l.hasLayer {
                log?("\(source): V1 layer \(i) ('\(l.name)') also holds a V0 layer; ignoring it")
            }
            net.layer.append(upgradeV1Layer(l))
        }
        return net
    }

    /// Caffe's UpgradeV1LayerParameter: names, blobs, rules and `*_param` messages are copied;
    /// `param` names, `blob_share_mode`, `blobs_lr` and `weight_decay` become ParamSpecs.
    public static func upgradeV1Layer(_ v1: Caffe_V1LayerParameter) -> Caffe_LayerParameter {
        var l = Caffe_LayerParameter()
        l.bottom = v1.bottom
        l.top = v1.top
        if v1.hasName { l.name = v1.name }
        l.include = v1.include
        l.exclude = v1.exclude
        if v1.hasType { l.type = v1LayerTypeName(v1.type) }
        l.blobs = v1.blobs
        // Each per-param list may be longer than the others: grow `param` to the longest.
        func spec(_ i: Int) {
            while l.param.count <= i { l.param.append(Caffe_ParamSpec()) }
        }
        for (i, name) in v1.param.enumerated() { spec(i); l.param[i].name = name }
        for (i, mode) in v1.blobShareMode.enumerated() {
            spec(i)
            l.param[i].shareMode = mode == .strict ? .strict : .permissive
        }
        for (i, lr) in v1.blobsLr.enumerated() { spec(i); l.param[i].lrMult = lr }
        for (i, wd) in v1.weightDecay.enumerated() { spec(i); l.param[i].decayMult = wd }
        l.lossWeight = v1.lossWeight
        if v1.hasAccuracyParam { l.accuracyParam = v1.accuracyParam }
        if v1.hasArgmaxParam { l.argmaxParam = v1.argmaxParam }
        if v1.hasConcatParam { l.concatParam = v1.concatParam }
        if v1.hasContrastiveLossParam { l.contrastiveLossParam = v1.contrastiveLossParam }
        if v1.hasConvolutionParam { l.convolutionParam = v1.convolutionParam }
        if v1.hasDataParam { l.dataParam = v1.dataParam }
        if v1.hasDropoutParam { l.dropoutParam = v1.dropoutParam }
        if v1.hasDummyDataParam { l.dummyDataParam = v1.dummyDataParam }
        if v1.hasEltwiseParam { l.eltwiseParam = v1.eltwiseParam }
        if v1.hasExpParam { l.expParam = v1.expParam }
        if v1.hasHdf5DataParam { l.hdf5DataParam = v1.hdf5DataParam }
        if v1.hasHdf5OutputParam { l.hdf5OutputParam = v1.hdf5OutputParam }
        if v1.hasHingeLossParam { l.hingeLossParam = v1.hingeLossParam }
        if v1.hasImageDataParam { l.imageDataParam = v1.imageDataParam }
        if v1.hasInfogainLossParam { l.infogainLossParam = v1.infogainLossParam }
        if v1.hasInnerProductParam { l.innerProductParam = v1.innerProductParam }
        if v1.hasLrnParam { l.lrnParam = v1.lrnParam }
        if v1.hasMemoryDataParam { l.memoryDataParam = v1.memoryDataParam }
        if v1.hasMvnParam { l.mvnParam = v1.mvnParam }
        if v1.hasPoolingParam { l.poolingParam = v1.poolingParam }
        if v1.hasPowerParam { l.powerParam = v1.powerParam }
        if v1.hasReluParam { l.reluParam = v1.reluParam }
        if v1.hasSigmoidParam { l.sigmoidParam = v1.sigmoidParam }
        if v1.hasSoftmaxParam { l.softmaxParam = v1.softmaxParam }
        if v1.hasSliceParam { l.sliceParam = v1.sliceParam }
        if v1.hasTanhParam { l.tanhParam = v1.tanhParam }
        if v1.hasThresholdParam { l.thresholdParam = v1.thresholdParam }
        if v1.hasWindowDataParam { l.windowDataParam = v1.windowDataParam }
        if v1.hasTransformParam { l.transformParam = v1.transformParam }
        if v1.hasLossParam { l.lossParam = v1.lossParam }
        return l
    }

    /// Caffe's UpgradeV1LayerType: the V1 enum → the registered type string.
    public static func v1LayerTypeName(_ type: Caffe_V1LayerParameter.LayerType) -> String {
        switch type {
        case .none: return ""
        case .absval: return "AbsVal"
        case .accuracy: return "Accuracy"
        case .argmax: return "ArgMax"
        case .bnll: return "BNLL"
        case .concat: return "Concat"
        case .contrastiveLoss: return "ContrastiveLoss"
        case .convolution: return "Convolution"
        case .deconvolution: return "Deconvolution"
        case .data: return "Data"
        case .dropout: return "Dropout"
        case .dummyData: return "DummyData"
        case .euclideanLoss: return "EuclideanLoss"
        case .eltwise: return "Eltwise"
        case .exp: return "Exp"
        case .flatten: return "Flatten"
        case .hdf5Data: return "HDF5Data"
        case .hdf5Output: return "HDF5Output"
        case .hingeLoss: return "HingeLoss"
        case .im2Col: return "Im2col"
        case .imageData: return "ImageData"
        case .infogainLoss: return "InfogainLoss"
        case .innerProduct: return "InnerProduct"
        case .lrn: return "LRN"
        case .memoryData: return "MemoryData"
        case .multinomialLogisticLoss: return "MultinomialLogisticLoss"
        case .mvn: return "MVN"
        case .pooling: return "Pooling"
        case .power: return "Power"
        case .relu: return "ReLU"
        case .sigmoid: return "Sigmoid"
        case .sigmoidCrossEntropyLoss: return "SigmoidCrossEntropyLoss"
        case .silence: return "Silence"
        case .softmax: return "Softmax"
        case .softmaxLoss: return "SoftmaxWithLoss"
        case .split: return "Split"
        case .slice: return "Slice"
        case .tanh: return "TanH"
        case .windowData: return "WindowData"
        case .threshold: return "Threshold"
        }
    }

    // MARK: Input fields and BatchNorm

    /// Caffe's UpgradeNetInput: `input` + `input_shape` (or 4 `input_dim`s per input) become an
    /// "Input" layer named "input", placed first. An `input` without shapes is a legacy
    /// caffemodel's: the fields are only cleared.
    static func upgradeInput(_ p: inout Caffe_NetParameter, source: String) throws {
        let hasShape = !p.inputShape.isEmpty, hasDim = !p.inputDim.isEmpty
        if hasShape || hasDim {
            if hasShape {
                try require(p.inputShape.count == p.input.count,
                            "\(source): \(p.input.count) net inputs (\(p.input.joined(separator: ", "))) but \(p.inputShape.count) input_shape entries; expected one input_shape per input")
            } else {
                try require(p.inputDim.count == 4 * p.input.count,
                            "\(source): \(p.input.count) net inputs (\(p.input.joined(separator: ", "))) but \(p.inputDim.count) input_dim values; expected 4 per input (num, channels, height, width)")
            }
            var layer = Caffe_LayerParameter()
            layer.name = "input"
            layer.type = "Input"
            layer.top = p.input
            for i in p.input.indices {
                if hasShape {
                    layer.inputParam.shape.append(p.inputShape[i])
                } else {
                    var shape = Caffe_BlobShape()
                    shape.dim = p.inputDim[(4 * i)..<(4 * i + 4)].map { Int64($0) }
                    layer.inputParam.shape.append(shape)
                }
            }
            p.layer.insert(layer, at: 0)
        }
        p.input = []
        p.inputShape = []
        p.inputDim = []
    }

    /// Caffe's UpgradeNetBatchNorm: the old BatchNorm definition declared its 3 statistics blobs
    /// as params; they are not learned, so lr_mult and decay_mult become 0.
    static func upgradeBatchNorm(_ p: inout Caffe_NetParameter) {
        for i in p.layer.indices where p.layer[i].type == "BatchNorm" && p.layer[i].param.count == 3 {
            for j in p.layer[i].param.indices {
                p.layer[i].param[j].lrMult = 0
                p.layer[i].param[j].decayMult = 0
            }
        }
    }
}
