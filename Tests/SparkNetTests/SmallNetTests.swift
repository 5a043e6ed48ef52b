import Foundation
import Testing
import SparkNet
import SparkNetTestSupport

/// Input -> InnerProduct -> ReLU (in place) -> InnerProduct -> SoftmaxWithLoss + Accuracy, with the
/// label and the scores each feeding two layers.
@Suite struct SmallNetTests {
    static let definition = """
        name: "tiny"
        layer { name: "input" type: "Input" top: "data" top: "label"
                input_param { shape { dim: 4 dim: 3 } shape { dim: 4 } } }
        layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
                inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.7 }
                                      bias_filler { type: "gaussian" std: 0.5 } } }
        layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
        layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
                inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.7 }
                                      bias_filler { type: "gaussian" std: 0.5 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
        layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" }
        """

    /// A net with fixed inputs (the context is returned too: layers hold it unowned).
    static func makeNet() throws -> (Net, NetContext) {
        let context = NetContext(seed: 42)
        let net = try Fixtures.net(definition, context: context)
        let data = Fixtures.gaussianBlob([4, 3], seed: 9)
        net.blob(named: "data")!.setData(data.dataArray)
        net.blob(named: "label")!.setData([0, 2, 1, 2])
        return (net, context)
    }

    @Test func wiringSplitsAndOutputs() throws {
        let (net, context) = try Self.makeNet()
        defer { withExtendedLifetime(context) {} }
        #expect(net.layers.contains { $0.type == "Split" })
        // Both the label and the scores feed two layers.
        #expect(net.layers.filter { $0.type == "Split" }.count == 2)
        #expect(net.outputBlobNames == ["loss", "accuracy"])
        #expect(net.blob(named: "ip2")!.shape == [4, 3])
        #expect(net.parameterCount == 5 * 3 + 5 + 3 * 5 + 3)
    }

    @Test func forwardReturnsTheLoss() throws {
        let (net, context) = try Self.makeNet()
        defer { withExtendedLifetime(context) {} }
        let loss = try net.forward()
        #expect(loss == net.blob(named: "loss")!.dataArray[0])
        // Recompute the loss by hand from the scores: mean over samples of log Σ e^s − s_label.
        let s = net.blob(named: "ip2")!.dataArray.map(Double.init)
        let labels = [0, 2, 1, 2]
        var expected = 0.0
        var correct = 0
        for n in 0..<4 {
            let row = Array(s[(n * 3)..<(n * 3 + 3)])
            expected += Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +)) - row[labels[n]]
            if row.firstIndex(of: row.max()!)! == labels[n] { correct += 1 }
        }
        #expect(abs(Double(loss) - expected / 4) < 1e-5)
        #expect(net.blob(named: "accuracy")!.dataArray[0] == Float(correct) / 4)
        // ReLU ran in place: ip1 holds no negatives.
        #expect(net.blob(named: "ip1")!.dataArray.allSatisfy { $0 >= 0 })
    }

    @Test func wholeNetGradientMatchesFiniteDifferences() throws {
        let (net, context) = try Self.makeNet()
        defer { withExtendedLifetime(context) {} }
        net.clearParamDiffs()
        try net.forwardBackward()
        let analytic = Array(net.gradients)
        #expect(analytic.contains { $0 != 0 })
        let w = net.weights
        let h: Float = 1e-2
        var probed = 0
        // A spread of entries across ip1 weights, ip1 bias, ip2 weights, ip2 bias.
        for i in stride(from: 0, to: w.count, by: 3) {
            let orig = w[i]
            w[i] = orig + h
            let plus = Double(try net.forward())
            w[i] = orig - h
            let minus = Double(try net.forward())
            w[i] = orig
            let numeric = Float((plus - minus) / (2 * Double(h)))
            let scale = max(abs(numeric), abs(analytic[i]), 1)
            #expect(abs(numeric - analytic[i]) <= 2e-3 * scale, "weight \(i): analytic \(analytic[i]), numeric \(numeric)")
            probed += 1
        }
        #expect(probed > 10)
        // Gradients accumulate across forwardBackward calls until cleared.
        try net.forwardBackward()
        for i in 0..<analytic.count { #expect(abs(net.gradients[i] - 2 * analytic[i]) <= 1e-5 * max(1, abs(analytic[i]))) }
    }
}
