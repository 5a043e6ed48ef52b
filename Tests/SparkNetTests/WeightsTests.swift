import Testing
import CaffeProto
@testable import SparkNet

/// `Weights`: a net's parameter blobs by layer name, with arithmetic for model averaging.
@Suite struct WeightsTests {
    static let netText = """
    name: "w"
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 1 dim: 4 dim: 4 } } }
    layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
            convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.25 } } }
    layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
    layer { name: "ip" type: "InnerProduct" bottom: "c" top: "y"
            inner_product_param { num_output: 3 bias_term: false weight_filler { type: "xavier" } } }
    """

    func net(seed: UInt64 = 1) throws -> Net {
        try Net(param: try Prototxt.parse(Self.netText, as: Caffe_NetParameter.self, path: "w"),
                phase: .train, context: NetContext(seed: seed))
    }

    @Test func exportFollowsNetOrderAndShapes() throws {
        let n = try net()
        let w = n.exportWeights()
        #expect(w.layerNames == ["conv", "ip"])
        #expect(w["conv"]!.map(\.shape) == [[2, 1, 3, 3], [2]])
        #expect(w["ip"]!.map(\.shape) == [[3, 8]])
        #expect(w["conv"]![1].values == [0.25, 0.25])
        #expect(w["conv"]![0].values == n.layer(named: "conv")!.blobs[0].dataArray)
        #expect(w.parameterCount == n.parameterCount)
        #expect(w["relu"] == nil)
    }

    @Test func addScaleAndEquality() throws {
        let a = try net(seed: 1).exportWeights(), b = try net(seed: 2).exportWeights()
        #expect(a == a && a != b)
        let sum = try a + b
        for name in a.layerNames {
            for (i, blob) in sum[name]!.enumerated() {
                #expect(blob.shape == a[name]![i].shape)
                #expect(blob.values == zip(a[name]![i].values, b[name]![i].values).map { $0 + $1 })
            }
        }
        let half = sum.scaled(by: 0.5)
        #expect(half["conv"]![1].values == [0.25, 0.25])  // both biases were 0.25
        #expect(half.isApproximatelyEqual(to: try (a.scaled(by: 0.5) + b.scaled(by: 0.5)), tolerance: 1e-6))
        var acc = a
        try acc.add(a)
        #expect(acc == a.scaled(by: 2))
        #expect(a.scaled(by: 1) == a)
        // A different layout refuses arithmetic, naming the layer.
        var other = a
        other["ip"] = [WeightBlob(shape: [8, 3], repeating: 1)]
        #expect { _ = try a + other } throws: { "\($0)".contains("'ip'") && "\($0)".contains("[3, 8]") && "\($0)".contains("[8, 3]") }
        other["ip"] = nil
        #expect(other.layerNames == ["conv"])
        #expect { _ = try a + other } throws: { "\($0)".contains("'ip'") }
    }

    @Test func setWeightsRoundTrips() throws {
        let a = try net(seed: 1), b = try net(seed: 2)
        #expect(a.exportWeights() != b.exportWeights())
        try b.setWeights(a.exportWeights())
        #expect(b.exportWeights() == a.exportWeights())
        // The arena holds them too.
        #expect(Array(b.weights) == Array(a.weights))
        // Same outputs from the same inputs.
        for n in [a, b] { for i in 0..<32 { n.blob(named: "x")!.data[i] = Float(i % 7) - 3 } }
        try a.forward(); try b.forward()
        #expect(a.blob(named: "y")!.dataArray == b.blob(named: "y")!.dataArray)
    }

    @Test func setWeightsChecksNamesAndShapes() throws {
        let n = try net()
        let before = n.exportWeights()
        var wrong = before
        wrong["conv"] = [try WeightBlob(shape: [2, 1, 2, 2], values: Array(repeating: 1, count: 8)), before["conv"]![1]]
        #expect { try n.setWeights(wrong) } throws: { e in
            let m = "\(e)"
            return m.contains("'conv'") && m.contains("blob 0") && m.contains("[2, 1, 2, 2]") && m.contains("[2, 1, 3, 3]")
        }
        var extra = before
        extra["nope"] = [WeightBlob(shape: [1])]
        #expect { try n.setWeights(extra) } throws: { "\($0)".contains("'nope'") }
        var missing = before
        missing["ip"] = nil
        #expect { try n.setWeights(missing) } throws: { "\($0)".contains("'ip'") }
        var count = before
        count["conv"] = [before["conv"]![0]]
        #expect { try n.setWeights(count) } throws: { "\($0)".contains("'conv'") && "\($0)".contains("2 parameter blobs") }
        // Nothing was written by the failed calls.
        #expect(n.exportWeights() == before)
        #expect { _ = try WeightBlob(shape: [2, 2], values: [1, 2, 3]) } throws: { "\($0)".contains("[2, 2]") }
        #expect { _ = try Weights([("a", []), ("a", [])]) } throws: { "\($0)".contains("'a'") }
    }
}
