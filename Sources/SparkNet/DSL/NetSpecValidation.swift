import CaffeProto

extension NetSpec {
    /// Checks what the DSL's types cannot: every layer has a name and a type the engine knows,
    /// the right number of bottoms, its required fields; and in each phase (TRAIN and TEST)
    /// every bottom is an earlier layer's top, no top is written twice except in place, and no
    /// two layers share a name. Throws a `SparkNetError` naming the first offending layer.
    public func validate() throws {
        let net = "net '\(param.name)'"
        for (i, l) in param.layer.enumerated() {
            try require(!l.name.isEmpty, "\(net): layer #\(i + 1) (\(l.type)) has no name")
            let culprit = "\(net): layer '\(l.name)' (\(l.type.isEmpty ? "no type" : l.type))"
            try require(LayerRegistry.types[l.type] != nil,
                        "\(culprit): unsupported layer type (supported: \(LayerRegistry.types.keys.sorted().joined(separator: ", ")))")
            if let problem = NetSpec.fieldProblem(l) { throw SparkNetError("\(culprit): \(problem)") }
        }
        for phase in [Caffe_Phase.train, .test] {
            var state = Caffe_NetState()
            state.phase = phase
            try NetSpec.checkWiring(NetStateFilter.filter(param, state: state), net: net, phase: phase)
        }
    }

    /// The bottom count and required fields a layer of its type must have, or nil when it has them.
    static func fieldProblem(_ l: Caffe_LayerParameter) -> String? {
        func bottoms(_ range: ClosedRange<Int>) -> String? {
            if range.contains(l.bottom.count) { return nil }
            let want = range.lowerBound == range.upperBound ? "\(range.lowerBound)"
                : range.upperBound == Int.max ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            let hint = l.bottom.isEmpty ? " (give bottom:, or put it after the layer whose top it reads)" : ""
            return "needs \(want) bottom\(want == "1" ? "" : "s"), has \(l.bottom.count)\(hint)"
        }
        func tops(_ n: Int) -> String? {
            l.top.count == n ? nil : "needs \(n) top\(n == 1 ? "" : "s"), has \(l.top.count)"
        }
        switch l.type {
        case "HDF5Data":
            if l.top.isEmpty { return "needs at least one top (the datasets it reads)" }
            if l.hdf5DataParam.batchSize == 0 { return "hdf5_data_param.batch_size must be positive" }
        case "Data":
            if l.top.isEmpty { return "needs at least one top (data, and label)" }
            if l.dataParam.batchSize == 0 { return "data_param.batch_size must be positive" }
        case "Input":
            if l.top.isEmpty { return "needs at least one top" }
            let shapes = l.inputParam.shape
            if shapes.count != 1 && shapes.count != l.top.count {
                return "input_param has \(shapes.count) shapes for \(l.top.count) tops (expected one per top, or one for all)"
            }
            if let bad = shapes.first(where: { $0.dim.isEmpty || $0.dim.contains { $0 <= 0 } }) {
                return "input_param.shape \(bad.dim) must have positive dimensions"
            }
        case "Convolution":
            let c = l.convolutionParam
            if c.numOutput == 0 { return "convolution_param.num_output must be positive" }
            if c.kernelSize.isEmpty && !(c.kernelH > 0 && c.kernelW > 0) { return "convolution_param needs kernel_size (or kernel_h and kernel_w)" }
            if c.kernelSize.contains(0) { return "convolution_param.kernel_size must be positive" }
            if c.hasGroup && (c.group == 0 || c.numOutput % c.group != 0) {
                return "convolution_param.group \(c.group) must divide num_output \(c.numOutput)"
            }
            if l.bottom.isEmpty { return bottoms(1...1) }
            if l.top.count != l.bottom.count { return "needs one top per bottom, has \(l.bottom.count) bottoms and \(l.top.count) tops" }
        case "Pooling":
            let p = l.poolingParam
            if !p.globalPooling && p.kernelSize == 0 && !(p.kernelH > 0 && p.kernelW > 0) {
                return "pooling_param needs kernel_size (or kernel_h and kernel_w, or global_pooling: true)"
            }
            return bottoms(1...1) ?? tops(1)
        case "InnerProduct":
            if l.innerProductParam.numOutput == 0 { return "inner_product_param.num_output must be positive" }
            return bottoms(1...1) ?? tops(1)
        case "LRN":
            if l.lrnParam.hasLocalSize && l.lrnParam.localSize % 2 == 0 {
                return "lrn_param.local_size must be odd, got \(l.lrnParam.localSize)"
            }
            return bottoms(1...1) ?? tops(1)
        case "Dropout":
            let r = l.dropoutParam.dropoutRatio
            if !(r >= 0 && r < 1) { return "dropout_param.dropout_ratio must be in [0, 1), got \(r)" }
            return bottoms(1...1) ?? tops(1)
        case "Eltwise":
            if !l.eltwiseParam.coeff.isEmpty && l.eltwiseParam.coeff.count != l.bottom.count {
                return "eltwise_param has \(l.eltwiseParam.coeff.count) coeff for \(l.bottom.count) bottoms"
            }
            return bottoms(2...Int.max) ?? tops(1)
        case "Concat":
            return bottoms(1...Int.max) ?? tops(1)
        case "Scale":
            return bottoms(1...2) ?? tops(1)
        case "SoftmaxWithLoss", "Accuracy":
            return bottoms(2...3) ?? (l.top.isEmpty ? "needs a top" : nil)
        case "ReLU", "Sigmoid", "TanH", "BatchNorm", "Softmax", "Flatten", "Reshape":
            return bottoms(1...1) ?? tops(1)
        default:
            break
        }
        return nil
    }

    /// Walks the layers of one phase as Caffe's Net::Init does.
    static func checkWiring(_ net: Caffe_NetParameter, net name: String, phase: Caffe_Phase) throws {
        let phaseName = phase == .train ? "TRAIN" : "TEST"
        var producer: [String: String] = [:]   // blob -> the layer that last wrote it
        var seen: Set<String> = []
        for l in net.layer {
            let culprit = "\(name): layer '\(l.name)' (\(l.type))"
            try require(seen.insert(l.name).inserted,
                        "\(culprit): a second layer of that name in phase \(phaseName) (names must be unique within a phase)")
            for (i, b) in l.bottom.enumerated() {
                try require(producer[b] != nil,
                            "\(culprit): unknown bottom '\(b)' (bottom #\(i + 1)) in phase \(phaseName): no earlier layer has it as a top")
            }
            for t in l.top {
                if let other = producer[t], !l.bottom.contains(t) {
                    throw SparkNetError("\(culprit): top '\(t)' is already written by layer '\(other)' in phase \(phaseName) (a layer may reuse a name only in place, as one of its own bottoms)")
                }
                producer[t] = l.name
            }
        }
    }
}
