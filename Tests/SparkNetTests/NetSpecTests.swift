import Foundation
import Testing
import CaffeProto
import SparkNet
import SparkNetExamples

/// The Swift DSL (NetSpec, SolverSpec): the example nets equal their prototxt twins, printing
/// round-trips through the repository's parser, every DSL word writes the Caffe field it names,
/// and misuse the types cannot catch is a runtime error naming the layer.
@Suite struct NetSpecTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Records the first differing layer (or the differing net-level fields) of two nets.
    static func expectEqual(_ dsl: Caffe_NetParameter, _ twin: Caffe_NetParameter, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        guard dsl != twin else { return }
        for i in 0..<max(dsl.layer.count, twin.layer.count) {
            let a = i < dsl.layer.count ? dsl.layer[i].textFormatString() : "(none)\n"
            let b = i < twin.layer.count ? twin.layer[i].textFormatString() : "(none)\n"
            if a != b {
                Issue.record("\(what): layer #\(i + 1) differs\n--- DSL\n\(a)--- twin\n\(b)", sourceLocation: sourceLocation)
                return
            }
        }
        var x = dsl, y = twin
        x.layer = []; y.layer = []
        Issue.record("\(what): net fields differ\n--- DSL\n\(x.textFormatString())--- twin\n\(y.textFormatString())",
                     sourceLocation: sourceLocation)
    }

    @Test(arguments: ExampleNets.all.map(\.name))
    func exampleNetEqualsItsTwin(_ name: String) throws {
        let e = try #require(ExampleNets.all.first { $0.name == name })
        let twin = try Prototxt.readNet("\(Self.root)/\(e.twin)")
        Self.expectEqual(e.net.param, twin, "\(name) vs \(e.twin)")
        try e.net.validate()
        #expect(e.net.layers.count == twin.layer.count)
    }

    @Test(arguments: ExampleNets.solvers.map(\.name))
    func exampleSolverEqualsItsTwin(_ name: String) throws {
        let s = try #require(ExampleNets.solvers.first { $0.name == name })
        let twin = try Prototxt.readSolver("\(Self.root)/\(s.twin)")
        #expect(s.solver.param == twin, "\(name)\n--- DSL\n\(s.solver.prototxt)--- twin\n\(twin.textFormatString())")
        try s.solver.validate()
    }

    /// Printed text parses back (with the repository's parser) to an equal NetParameter.
    @Test func printedNetsParseBackEqual() throws {
        for net in ExampleNets.all.map(\.net) + [Self.everyWord] {
            let back = try Prototxt.parseNet(net.prototxt, path: "\(net.param.name).prototxt")
            Self.expectEqual(back, net.param, "\(net.param.name) printed and parsed back")
            #expect(back == net.param)
        }
        for solver in ExampleNets.solvers.map(\.solver) + [SolverSpec(baseLR: 0.01, policy: .multistep(gamma: 0.1, steps: [10, 20])).net(Self.everyWord)] {
            #expect(try Prototxt.parseSolver(solver.prototxt) == solver.param)
        }
    }

    /// A net using every DSL word once; `everyWordTwin` is the prototxt it must equal.
    static var everyWord: NetSpec {
        NetSpec("every_word") {
            Input("input", shapes: ["data": [2, 3, 8, 8], "label": [2]])
            Convolution("conv", bottom: "data", outputs: 4, kernel: 3, stride: 1, pad: 1, group: 2, biasTerm: true,
                        weightFiller: .gaussian(std: 0.1, mean: 0.5), biasFiller: .constant(0.2))
                .param(lr: 1, decay: 1, name: "conv_w").param(lr: 2, decay: 0)
            BatchNorm("bn", useGlobalStats: false, movingAverageFraction: 0.9, eps: 0.001)
            Scale("scale", biasTerm: true, filler: .constant(1), biasFiller: .constant())
            ReLU("relu", negativeSlope: 0.1)
            LRN("lrn", localSize: 3, alpha: 0.0001, beta: 0.75, k: 2, region: .withinChannel)
            Pooling("pool", .ave, kernel: 3, stride: 2, pad: 1)
            Pooling("pool_branch", .max, bottom: "conv", top: "branch", kernel: 2, stride: 2)
            Concat("concat", bottoms: ["pool", "branch"], axis: 1)
            Eltwise("sum", bottoms: ["pool", "branch"], top: "summed", operation: .sum, coefficients: [1, -1])
            Pooling("global", global: .max)
            Dropout("drop", ratio: 0.25).exclude(.test)
            CaffeLayer("flat", type: "Flatten", bottoms: ["global"], tops: ["flat"])
            InnerProduct("ip", outputs: 3, biasTerm: false, weightFiller: .xavier(.average))
            InnerProduct("ip_u", bottom: "flat", outputs: 3, weightFiller: .uniform(min: -1, max: 1), biasFiller: .msra())
            Softmax("prob", bottom: "ip", axis: 1)
            SoftmaxWithLoss("loss", bottoms: ["ip", "label"]).lossWeight(0.5)
            Accuracy("accuracy", bottoms: ["ip", "label"], top: "acc", topK: 2).include(.test)
            HDF5Data("extra", tops: ["x"], source: "list.txt", batchSize: 2, shuffle: true).include(.train)
        }
    }

    static let everyWordTwin = """
    name: "every_word"
    layer { name: "input" type: "Input" top: "data" top: "label"
            input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 } } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
            param { name: "conv_w" lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
            convolution_param { num_output: 4 bias_term: true pad: 1 kernel_size: 3 group: 2 stride: 1
              weight_filler { type: "gaussian" mean: 0.5 std: 0.1 } bias_filler { type: "constant" value: 0.2 } } }
    layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv"
            batch_norm_param { use_global_stats: false moving_average_fraction: 0.9 eps: 0.001 } }
    layer { name: "scale" type: "Scale" bottom: "conv" top: "conv"
            scale_param { filler { type: "constant" value: 1 } bias_term: true bias_filler { type: "constant" } } }
    layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
    layer { name: "lrn" type: "LRN" bottom: "conv" top: "lrn"
            lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 norm_region: WITHIN_CHANNEL k: 2 } }
    layer { name: "pool" type: "Pooling" bottom: "lrn" top: "pool"
            pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
    layer { name: "pool_branch" type: "Pooling" bottom: "conv" top: "branch"
            pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
    layer { name: "concat" type: "Concat" bottom: "pool" bottom: "branch" top: "concat" concat_param { axis: 1 } }
    layer { name: "sum" type: "Eltwise" bottom: "pool" bottom: "branch" top: "summed"
            eltwise_param { operation: SUM coeff: 1 coeff: -1 } }
    layer { name: "global" type: "Pooling" bottom: "summed" top: "global" pooling_param { pool: MAX global_pooling: true } }
    layer { name: "drop" type: "Dropout" bottom: "global" top: "global" dropout_param { dropout_ratio: 0.25 }
            exclude { phase: TEST } }
    layer { name: "flat" type: "Flatten" bottom: "global" top: "flat" }
    layer { name: "ip" type: "InnerProduct" bottom: "flat" top: "ip"
            inner_product_param { num_output: 3 bias_term: false weight_filler { type: "xavier" variance_norm: AVERAGE } } }
    layer { name: "ip_u" type: "InnerProduct" bottom: "flat" top: "ip_u"
            inner_product_param { num_output: 3 weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "msra" } } }
    layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" softmax_param { axis: 1 } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" loss_weight: 0.5 }
    layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" accuracy_param { top_k: 2 }
            include { phase: TEST } }
    layer { name: "extra" type: "HDF5Data" top: "x" hdf5_data_param { source: "list.txt" batch_size: 2 shuffle: true }
            include { phase: TRAIN } }
    """

    /// Every word writes the Caffe field it names (and chaining fills bottoms and tops as
    /// documented: previous top, own name, in place).
    @Test func everyWordWritesItsCaffeField() throws {
        Self.expectEqual(Self.everyWord.param, try Prototxt.parseNet(Self.everyWordTwin), "every_word")
        try Self.everyWord.validate()
    }

    /// `if`, `for` and LayerGroup functions in a net body, and chaining across a group.
    @Test func builderControlFlowAndGroups() throws {
        func block(_ i: Int) -> LayerGroup {
            LayerGroup {
                InnerProduct("ip\(i)", outputs: 4)
                ReLU("relu\(i)")
            }
        }
        for deep in [false, true] {
            let net = NetSpec("flow") {
                Input("in", shapes: ["x": [2, 4]])
                for i in 1...3 { block(i) }
                if deep { InnerProduct("extra", outputs: 4) } else { Dropout("drop") }
                InnerProduct("out", outputs: 2)
            }
            try net.validate()
            #expect(net.layers.map(\.name) == ["in", "ip1", "relu1", "ip2", "relu2", "ip3", "relu3", deep ? "extra" : "drop", "out"])
            #expect(net.layers.map(\.bottom) == [[], ["x"], ["ip1"], ["ip1"], ["ip2"], ["ip2"], ["ip3"], ["ip3"], [deep ? "extra" : "ip3"]])
        }
    }

    // MARK: Misuse found at run time

    /// `validate()` throws one error naming the net, the layer and what is wrong.
    static func expectError(_ net: NetSpec, _ parts: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try net.validate()
            Issue.record("\(net.param.name): validate() passed, expected an error with \(parts)", sourceLocation: sourceLocation)
        } catch {
            let message = "\(error)"
            #expect(error is SparkNetError, sourceLocation: sourceLocation)
            for p in parts + ["net '\(net.param.name)'"] {
                #expect(message.contains(p), "'\(message)' does not contain '\(p)'", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func unknownBottomNamesTheLayerAndPhase() {
        Self.expectError(NetSpec("typo") {
            Input("in", shapes: ["data": [1, 1, 4, 4]])
            Convolution("conv1", outputs: 2, kernel: 3)
            Pooling("pool1", .max, bottom: "conv", kernel: 2)
        }, "layer 'pool1' (Pooling)", "unknown bottom 'conv'", "phase TRAIN")
        // A bottom only the TRAIN phase produces is unknown in TEST.
        Self.expectError(NetSpec("phases") {
            Input("in", shapes: ["data": [1, 4]])
            InnerProduct("train_only", outputs: 2).include(.train)
            ReLU("relu", bottom: "train_only")
        }, "layer 'relu' (ReLU)", "unknown bottom 'train_only'", "phase TEST")
    }

    @Test func topWrittenTwiceOrNameRepeated() {
        Self.expectError(NetSpec("twice") {
            Input("in", shapes: ["data": [1, 4]])
            InnerProduct("ip1", outputs: 2)
            InnerProduct("ip2", bottom: "data", top: "ip1", outputs: 2)
        }, "layer 'ip2' (InnerProduct)", "top 'ip1' is already written by layer 'ip1'")
        Self.expectError(NetSpec("names") {
            Input("in", shapes: ["data": [1, 4]])
            InnerProduct("ip", outputs: 2)
            InnerProduct("ip", bottom: "data", top: "other", outputs: 2)
        }, "layer 'ip' (InnerProduct)", "a second layer of that name in phase TRAIN")
        // In place and one name per phase (as LeNet's two data layers) are fine.
        #expect(throws: Never.self) {
            try NetSpec("fine") {
                HDF5Data("data", tops: ["x"], batchSize: 2).include(.train)
                HDF5Data("data", tops: ["x"], batchSize: 4).include(.test)
                ReLU("relu")
                Dropout("drop", bottom: "x", top: "x")
            }.validate()
        }
    }

    @Test func missingOrBadFieldsNameTheLayer() {
        Self.expectError(NetSpec("first") { ReLU("relu") }, "layer 'relu' (ReLU)", "needs 1 bottom, has 0", "give bottom:")
        Self.expectError(NetSpec("zero") {
            Input("in", shapes: ["data": [1, 1, 4, 4]])
            Convolution("conv1", outputs: 0, kernel: 3)
        }, "layer 'conv1' (Convolution)", "num_output must be positive")
        Self.expectError(NetSpec("group") {
            Input("in", shapes: ["data": [1, 2, 4, 4]])
            Convolution("conv1", outputs: 3, kernel: 3, group: 2)
        }, "layer 'conv1' (Convolution)", "group 2 must divide num_output 3")
        Self.expectError(NetSpec("one") {
            Input("in", shapes: ["data": [1, 4]])
            Eltwise("sum", bottoms: ["data"])
        }, "layer 'sum' (Eltwise)", "needs at least 2 bottoms, has 1")
        Self.expectError(NetSpec("coeff") {
            Input("in", shapes: ["a": [1, 4], "b": [1, 4]])
            Eltwise("sum", bottoms: ["a", "b"], coefficients: [1])
        }, "layer 'sum' (Eltwise)", "1 coeff for 2 bottoms")
        Self.expectError(NetSpec("batch") { HDF5Data("data", tops: ["x"], batchSize: 0) },
                         "layer 'data' (HDF5Data)", "batch_size must be positive")
        Self.expectError(NetSpec("shape") { Input("in", shapes: ["x": [2, 0]]) },
                         "layer 'in' (Input)", "positive dimensions")
        Self.expectError(NetSpec("loss") {
            Input("in", shapes: ["x": [2, 3]])
            SoftmaxWithLoss("loss", bottoms: ["x"])
        }, "layer 'loss' (SoftmaxWithLoss)", "needs 2 to 3 bottoms, has 1")
        Self.expectError(NetSpec("ratio") {
            Input("in", shapes: ["x": [2, 3]])
            Dropout("drop", ratio: 1)
        }, "layer 'drop' (Dropout)", "dropout_ratio must be in [0, 1)")
        Self.expectError(NetSpec("lrn") {
            Input("in", shapes: ["x": [2, 3, 4, 4]])
            LRN("norm", localSize: 4)
        }, "layer 'norm' (LRN)", "local_size must be odd")
        Self.expectError(NetSpec("type") {
            Input("in", shapes: ["x": [2, 3]])
            CaffeLayer("mystery", type: "Frobnicate", bottoms: ["x"], tops: ["y"])
        }, "layer 'mystery' (Frobnicate)", "unsupported layer type")
        Self.expectError(NetSpec("unnamed") { Input("", shapes: ["x": [2, 3]]) }, "layer #1 (Input) has no name")
        Self.expectError(NetSpec("kernel") {
            Input("in", shapes: ["x": [2, 3, 4, 4]])
            Pooling("pool", .max, kernel: 2).with { $0.poolingParam.clearKernelSize() }
        }, "layer 'pool' (Pooling)", "needs kernel_size")
    }

    @Test func solverMisuseAndModelValidation() throws {
        let bad = NetSpec("bad") {
            Input("in", shapes: ["x": [2, 3]])
            InnerProduct("ip", bottom: "y", outputs: 2)
        }
        #expect { try SolverSpec(baseLR: 0.1, policy: .fixed).net(bad).validate() } throws: {
            "\($0)".contains("layer 'ip'") && "\($0)".contains("unknown bottom 'y'")
        }
        #expect { try SolverSpec(baseLR: 0, policy: .fixed).validate() } throws: { "\($0)".contains("base_lr must be positive") }
        #expect { try SolverSpec(baseLR: 0.1, policy: .fixed).with { $0.testInterval = 10 }.validate() } throws: {
            "\($0)".contains("test_interval 10 without test_iter")
        }
        #expect { try SolverSpec(baseLR: 0.1, policy: .fixed).with { $0.type = "Sgd" }.validate() } throws: {
            "\($0)".contains("unknown type 'Sgd'")
        }
        // Model refuses the net before building it, with the same message.
        let data = try ArraySource([("x", [3], Array(repeating: 0, count: 6)), ("label", [], [0, 1])])
        #expect { _ = try Model(net: bad, trainingData: data) } throws: { "\($0)".contains("unknown bottom 'y'") }
        // The policies write Caffe's fields.
        let step = SolverSpec(baseLR: 0.1, policy: .step(gamma: 0.5, stepSize: 100)).method(.adam).momentum2(0.99).delta(1e-8)
        #expect(try Prototxt.parseSolver("base_lr: 0.1 lr_policy: \"step\" gamma: 0.5 stepsize: 100 type: \"Adam\" momentum2: 0.99 delta: 1e-8") == step.param)
    }

    // MARK: Define, train, export

    /// The example of docs/library-example.md: a DSL net trains from memory (loss falls) and its
    /// .caffemodel and prototxt load back into a model that tests the same.
    @Test func trainAndExportExample() throws {
        let dir = NSTemporaryDirectory() + "netspec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (before, after) = try ExampleNets.trainAndExport(directory: dir)
        #expect(after["loss"]! < before["loss"]! * 0.5, "\(before) -> \(after)")
        #expect(after["accuracy"]! > 0.9, "\(after)")

        let net = try Prototxt.readNet("\(dir)/points.prototxt")
        let model = try CaffeModel.read("\(dir)/points.caffemodel")
        #expect(model.layer.filter { !$0.blobs.isEmpty }.map(\.name) == ["ip1", "score"])
        let points: [[Float]] = (0..<64).map { i in [Float(i % 8) / 4 - 1, Float(i / 8) / 4 - 0.9] }
        let data = try ArraySource([("x", [2], points.flatMap { $0 }),
                                    ("label", [], points.map { $0[0] > $0[1] ? Float(1) : 0 })])
        let reloaded = try Model(net: net, trainingData: data, validationData: data)
        try reloaded.net.copyTrainedLayers(fromFile: "\(dir)/points.caffemodel")
        let again = try reloaded.test(steps: 4)
        #expect(again == after)
    }

    /// docs/library-example.md shows exactly the code of ExampleNets.trainAndExport.
    @Test func docShowsTheTrainAndExportExample() throws {
        let doc = try String(contentsOfFile: "\(Self.root)/docs/library-example.md", encoding: .utf8)
        let source = try String(contentsOfFile: "\(Self.root)/examples/swift-dsl/SparkNetExamples/TrainAndExport.swift", encoding: .utf8)
        func lines(_ s: Substring) -> [String] {
            s.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let heading = try #require(doc.range(of: "## Nets written in Swift"))
        let open = try #require(doc.range(of: "```swift\n", range: heading.upperBound..<doc.endIndex))
        let close = try #require(doc.range(of: "```", range: open.upperBound..<doc.endIndex))
        let start = try #require(source.range(of: "// --- example begins"))
        let end = try #require(source.range(of: "// --- example ends"))
        let docLines = lines(doc[open.upperBound..<close.lowerBound]).filter { !$0.hasPrefix("import ") }
        #expect(lines(source[start.upperBound..<end.lowerBound]) == docLines)
    }
}
