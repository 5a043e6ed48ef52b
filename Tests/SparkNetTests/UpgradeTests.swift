import Foundation
import Testing
import CaffeProto
@testable import SparkNet

/// Caffe's upgrade_proto.cpp: V0 → V1 → V2 nets, legacy inputs, BatchNorm params, solvers.
@Suite struct UpgradeTests {
    func parse(_ text: String) throws -> Caffe_NetParameter {
        try Prototxt.parse(text, as: Caffe_NetParameter.self, path: "test.prototxt")
    }

    static let v1Net = """
    name: "old"
    input: "data"
    input_dim: 2 input_dim: 1 input_dim: 4 input_dim: 4
    input: "label"
    input_dim: 2 input_dim: 1 input_dim: 1 input_dim: 1
    layers {
      name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
      blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
      convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } }
    }
    layers {
      name: "ip" type: INNER_PRODUCT bottom: "conv" top: "ip"
      param: "ip_w" blob_share_mode: PERMISSIVE
      inner_product_param { num_output: 2 weight_filler { type: "xavier" } }
    }
    layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip" bottom: "label" top: "loss" loss_weight: 2 include { phase: TRAIN } }
    layers { name: "prob" type: SOFTMAX bottom: "ip" top: "prob" include { phase: TEST } }
    """

    @Test func v1NetUpgradesToLayers() throws {
        let up = try NetUpgrade.upgrade(try parse(Self.v1Net), source: "old.prototxt")
        #expect(up.layers.isEmpty && up.input.isEmpty && up.inputDim.isEmpty && up.inputShape.isEmpty)
        #expect(up.name == "old")
        #expect(up.layer.map(\.name) == ["input", "conv", "ip", "loss", "prob"])
        #expect(up.layer.map(\.type) == ["Input", "Convolution", "InnerProduct", "SoftmaxWithLoss", "Softmax"])
        let input = up.layer[0]
        #expect(input.top == ["data", "label"])
        #expect(input.inputParam.shape.map(\.dim) == [[2, 1, 4, 4], [2, 1, 1, 1]])
        let conv = up.layer[1]
        #expect(conv.param.map(\.lrMult) == [1, 2])
        #expect(conv.param.map(\.decayMult) == [1, 0])
        #expect(conv.convolutionParam.numOutput == 3 && conv.convolutionParam.kernelSize == [3])
        #expect(conv.convolutionParam.weightFiller.std == 0.1)
        let ip = up.layer[2]
        #expect(ip.param.count == 1 && ip.param[0].name == "ip_w" && ip.param[0].shareMode == .permissive)
        #expect(!ip.param[0].hasLrMult)  // unset: the default 1 applies
        #expect(up.layer[3].include.map(\.phase) == [.train])
        #expect(up.layer[3].lossWeight == [2])
        #expect(up.layer[3].bottom == ["ip", "label"])
        #expect(up.layer[4].include.map(\.phase) == [.test])
    }

    @Test func v1NetBuildsAndRuns() throws {
        let net = try Net(param: try parse(Self.v1Net), phase: .train)
        #expect(net.layerNames == ["input", "conv", "ip", "loss"])
        #expect(net.paramLrMult == [1, 2, 1, 1])
        #expect(net.paramDecayMult == [1, 0, 1, 1])
        for i in 0..<net.blob(named: "label")!.count { net.blob(named: "label")!.data[i] = Float(i % 2) }
        let loss = try net.forward()
        #expect(loss.isFinite && loss > 0)
        // loss_weight 2: the loss is twice the blob's value.
        #expect(abs(loss - 2 * net.blob(named: "loss")!.data[0]) < 1e-6)
        let test = try Net(param: try parse(Self.v1Net), phase: .test)
        #expect(test.layerNames == ["input", "conv", "ip", "prob"])
    }

    @Test func layerAndLayersTogetherAreRefused() throws {
        let text = Self.v1Net + "\nlayer { name: \"new\" type: \"ReLU\" bottom: \"ip\" top: \"ip\" }"
        #expect { _ = try NetUpgrade.upgrade(try parse(text), source: "mixed.prototxt") } throws: { e in
            let m = "\(e)"
            return m.hasPrefix("mixed.prototxt:") && m.contains("'layer'") && m.contains("'layers'")
        }
    }

    @Test func everyV1TypeHasItsCaffeName() {
        let names = Caffe_V1LayerParameter.LayerType.allCases.map(NetUpgrade.v1LayerTypeName)
        #expect(names.filter(\.isEmpty).count == 1)  // NONE only
        #expect(Set(names).count == names.count)
        #expect(NetUpgrade.v1LayerTypeName(.softmaxLoss) == "SoftmaxWithLoss")
        #expect(NetUpgrade.v1LayerTypeName(.hdf5Data) == "HDF5Data")
        #expect(NetUpgrade.v1LayerTypeName(.im2Col) == "Im2col")
        #expect(NetUpgrade.v1LayerTypeName(.absval) == "AbsVal")
        #expect(NetUpgrade.v1LayerTypeName(.sigmoidCrossEntropyLoss) == "SigmoidCrossEntropyLoss")
        // Every V1 type this engine implements resolves in the registry.
        for t in Caffe_V1LayerParameter.LayerType.allCases {
            let name = NetUpgrade.v1LayerTypeName(t)
            if ["Convolution", "InnerProduct", "ReLU", "Pooling", "SoftmaxWithLoss", "HDF5Data"].contains(name) {
                #expect(LayerRegistry.types[name] != nil, "\(name)")
            }
        }
    }

    @Test func v1SubmessagesAreCopied() throws {
        let up = try NetUpgrade.upgrade(try parse("""
        layers { name: "d" type: HDF5_DATA top: "x" hdf5_data_param { source: "list.txt" batch_size: 7 } exclude { stage: "deploy" } }
        layers { name: "p" type: POOLING bottom: "x" top: "p" pooling_param { pool: AVE kernel_size: 2 } }
        layers { name: "r" type: RELU bottom: "p" top: "p" relu_param { negative_slope: 0.1 } }
        layers { name: "c" type: CONCAT bottom: "p" bottom: "p" top: "c" concat_param { axis: 1 } }
        layers { name: "e" type: ELTWISE bottom: "c" bottom: "c" top: "e" eltwise_param { operation: MAX } }
        layers { name: "l" type: LRN bottom: "e" top: "l" lrn_param { local_size: 3 } }
        layers { name: "o" type: DROPOUT bottom: "l" top: "o" dropout_param { dropout_ratio: 0.2 } }
        layers { name: "a" type: ACCURACY bottom: "o" bottom: "x" top: "a" accuracy_param { top_k: 3 } }
        """), source: "n")
        #expect(up.layer.map(\.type) == ["HDF5Data", "Pooling", "ReLU", "Concat", "Eltwise", "LRN", "Dropout", "Accuracy"])
        #expect(up.layer[0].hdf5DataParam.source == "list.txt" && up.layer[0].hdf5DataParam.batchSize == 7)
        #expect(up.layer[0].exclude.first?.stage == ["deploy"])
        #expect(up.layer[1].poolingParam.pool == .ave && up.layer[1].poolingParam.kernelSize == 2)
        #expect(up.layer[2].reluParam.negativeSlope == Float(0.1))
        #expect(up.layer[3].concatParam.axis == 1)
        #expect(up.layer[4].eltwiseParam.operation == .max)
        #expect(up.layer[5].lrnParam.localSize == 3)
        #expect(up.layer[6].dropoutParam.dropoutRatio == Float(0.2))
        #expect(up.layer[7].accuracyParam.topK == 3)
    }

    @Test func dataTransformFieldsMoveToTransformParam() throws {
        let up = try NetUpgrade.upgrade(try parse("""
        layers { name: "d" type: DATA top: "x" data_param { source: "db" batch_size: 4 scale: 0.5 mean_file: "m.binaryproto" crop_size: 3 mirror: true } }
        """), source: "n")
        let l = up.layer[0]
        #expect(l.type == "Data")
        #expect(l.transformParam.scale == 0.5 && l.transformParam.meanFile == "m.binaryproto")
        #expect(l.transformParam.cropSize == 3 && l.transformParam.mirror)
        #expect(!l.dataParam.hasScale && !l.dataParam.hasMeanFile && !l.dataParam.hasCropSize && !l.dataParam.hasMirror)
        #expect(l.dataParam.source == "db" && l.dataParam.batchSize == 4)
    }

    @Test func v0NetUpgradesWithPaddingFolded() throws {
        let v0 = try parse("""
        name: "ancient"
        input: "data"
        input_dim: 1 input_dim: 1 input_dim: 6 input_dim: 6
        layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
        layers { layer { name: "conv1" type: "conv" num_output: 2 kernelsize: 3 stride: 1 biasterm: false
                         weight_filler { type: "constant" value: 0.5 } blobs_lr: 1 weight_decay: 1 } bottom: "pad1" top: "conv1" }
        layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 2 stride: 2 } bottom: "conv1" top: "pool1" }
        layers { layer { name: "relu1" type: "relu" } bottom: "pool1" top: "pool1" }
        layers { layer { name: "ip" type: "innerproduct" num_output: 3 } bottom: "pool1" top: "ip" }
        """)
        var logged: [String] = []
        let up = try NetUpgrade.upgrade(v0, source: "ancient.prototxt", log: { logged.append($0) })
        #expect(up.layer.map(\.name) == ["input", "conv1", "pool1", "relu1", "ip"])
        #expect(up.layer.map(\.type) == ["Input", "Convolution", "Pooling", "ReLU", "InnerProduct"])
        let conv = up.layer[1]
        #expect(conv.bottom == ["data"])
        #expect(conv.convolutionParam.pad == [1] && conv.convolutionParam.kernelSize == [3])
        #expect(conv.convolutionParam.numOutput == 2 && !conv.convolutionParam.biasTerm)
        #expect(conv.param.map(\.lrMult) == [1])
        #expect(up.layer[2].poolingParam.pool == .max && up.layer[2].poolingParam.stride == 2)
        #expect(up.layer[4].innerProductParam.numOutput == 3)
        #expect(!logged.isEmpty)
        // It builds: 6x6 padded by 1, conv 3 -> 6x6, pool 2 -> 3x3.
        let net = try Net(param: v0, phase: .test)
        #expect(net.blob(named: "pool1")!.shape == [1, 2, 3, 3])
        #expect(net.blob(named: "ip")!.shape == [1, 3])
    }

    @Test func v0Faults() throws {
        #expect { _ = try NetUpgrade.upgrade(try parse("layers { layer { name: \"x\" type: \"warp\" } }"), source: "v0") } throws: {
            "\($0)".contains("unknown layer type 'warp'")
        }
        #expect { _ = try NetUpgrade.upgrade(try parse("layers { layer { name: \"x\" type: \"relu\" } bottom: \"nowhere\" top: \"y\" }"), source: "v0") } throws: {
            "\($0)".contains("unknown bottom blob 'nowhere'")
        }
        var logged: [String] = []
        let up = try NetUpgrade.upgrade(try parse("input: \"d\" layers { layer { name: \"r\" type: \"relu\" num_output: 3 } bottom: \"d\" top: \"d\" }"),
                                        source: "v0", log: { logged.append($0) })
        #expect(up.layer.map(\.type) == ["ReLU"])  // no shape: the input is only cleared
        #expect(logged.contains { $0.contains("unknown parameter num_output for layer type relu") })
    }

    @Test func legacyInputs() throws {
        // input_shape form.
        let shaped = try NetUpgrade.upgrade(try parse("""
        input: "x" input_shape { dim: 3 dim: 5 }
        layer { name: "r" type: "ReLU" bottom: "x" top: "y" }
        """), source: "n")
        #expect(shaped.layer.map(\.name) == ["input", "r"])
        #expect(shaped.layer[0].inputParam.shape.map(\.dim) == [[3, 5]])
        // An input without shapes (legacy caffemodel) is only cleared.
        let bare = try NetUpgrade.upgrade(try parse("input: \"x\" layer { name: \"r\" type: \"ReLU\" bottom: \"x\" top: \"y\" }"), source: "n")
        #expect(bare.layer.map(\.name) == ["r"] && bare.input.isEmpty)
        // Wrong counts are refused with both numbers.
        #expect { _ = try NetUpgrade.upgrade(try parse("input: \"x\" input_dim: 1 input_dim: 2"), source: "n.prototxt") } throws: {
            "\($0)".contains("n.prototxt") && "\($0)".contains("2 input_dim values")
        }
        #expect { _ = try NetUpgrade.upgrade(try parse("input: \"x\" input: \"z\" input_shape { dim: 1 }"), source: "n") } throws: {
            "\($0)".contains("1 input_shape entries")
        }
    }

    @Test func batchNormWithThreeParamsGetsZeroRates() throws {
        let up = try NetUpgrade.upgrade(try parse("""
        layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 1 } param { lr_mult: 2 name: "keep" } }
        layer { name: "bn2" type: "BatchNorm" param { lr_mult: 1 } }
        """), source: "n")
        #expect(up.layer[0].param.map(\.lrMult) == [0, 0, 0])
        #expect(up.layer[0].param.map(\.decayMult) == [0, 0, 0])
        #expect(up.layer[0].param[2].name == "keep")
        #expect(up.layer[1].param.map(\.lrMult) == [1])  // not the legacy 3-param form
        #expect(NetUpgrade.needsUpgrade(try parse("layer { name: \"bn\" type: \"BatchNorm\" param {} param {} param {} }")))
        #expect(!NetUpgrade.needsUpgrade(up) || up.layer[0].param.count == 3)
    }

    @Test func v1CaffemodelRoundTrip() throws {
        // A binary V1 model with legacy blob shapes loads through CaffeModel.read.
        var v1 = Caffe_NetParameter()
        var l = Caffe_V1LayerParameter()
        l.name = "ip"; l.type = .innerProduct
        var b = Caffe_BlobProto()
        b.num = 1; b.channels = 1; b.height = 2; b.width = 3
        b.data = [1, 2, 3, 4, 5, 6]
        l.blobs = [b]
        v1.layers = [l]
        let path = NSTemporaryDirectory() + "v1-\(UUID().uuidString).caffemodel"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try v1.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: path))
        let model = try CaffeModel.read(path)
        #expect(model.layer.map(\.type) == ["InnerProduct"])
        #expect(model.layer[0].blobs[0].data == [1, 2, 3, 4, 5, 6])
    }
}

/// Caffe's UpgradeSolverAsNeeded and snapshot_prefix default.
@Suite struct SolverUpgradeTests {
    func solver(_ text: String) throws -> Caffe_SolverParameter {
        try Prototxt.parse(text, as: Caffe_SolverParameter.self, path: "solver.prototxt")
    }

    @Test func solverTypeEnumBecomesString() throws {
        let pairs: [(String, String)] = [("SGD", "SGD"), ("NESTEROV", "Nesterov"), ("ADAGRAD", "AdaGrad"),
                                         ("RMSPROP", "RMSProp"), ("ADADELTA", "AdaDelta"), ("ADAM", "Adam")]
        for (e, s) in pairs {
            let p = try SolverUpgrade.upgrade(try solver("solver_type: \(e)"), solverPath: nil)
            #expect(p.type == s && !p.hasSolverType)
            #expect(UpdateRules.types.contains(p.type))
        }
        #expect { _ = try SolverUpgrade.upgrade(try solver("solver_type: ADAM type: \"Adam\""), solverPath: "s.prototxt") } throws: {
            "\($0)".contains("cannot be both specified")
        }
        // Unknown type strings are refused, listing the known ones.
        #expect { _ = try UpdateRules.make(try solver("type: \"Adamax\"")) } throws: {
            "\($0)".contains("Adamax") && "\($0)".contains("SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam")
        }
    }

    @Test func snapshotPrefixDefaults() throws {
        let dir = NSTemporaryDirectory() + "prefix-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/snaps", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unset = try SolverUpgrade.upgrade(try solver("base_lr: 0.1"), solverPath: "\(dir)/lenet_solver.prototxt")
        #expect(unset.snapshotPrefix == "\(dir)/lenet_solver")
        let directory = try SolverUpgrade.upgrade(try solver("snapshot_prefix: \"\(dir)/snaps\""), solverPath: "\(dir)/lenet_solver.prototxt")
        #expect(directory.snapshotPrefix == "\(dir)/snaps/lenet_solver")
        let plain = try SolverUpgrade.upgrade(try solver("snapshot_prefix: \"\(dir)/run1\""), solverPath: "\(dir)/lenet_solver.prototxt")
        #expect(plain.snapshotPrefix == "\(dir)/run1")
        let noFile = try SolverUpgrade.upgrade(try solver("base_lr: 0.1"), solverPath: nil)
        #expect(!noFile.hasSnapshotPrefix)
    }
}
