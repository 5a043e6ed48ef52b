import Foundation
import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct LossLayerTests {
    /// Labels in [0, classes) for `n` positions, deterministic.
    static func labels(_ shape: [Int], classes: Int, seed: UInt64 = 3) -> Blob {
        let b = Blob(shape: shape)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<b.count { b.data[i] = Float(rng.index(below: classes)) }
        return b
    }

    static var lossChecker: GradientChecker { GradientChecker(stepsize: 1e-2, threshold: 2e-3) }

    @Test func softmaxGradient() throws {
        try expectGradientsMatch("name: \"sm\" type: \"Softmax\"", [Fixtures.gaussianBlob([2, 5])])
        try expectGradientsMatch("name: \"sm\" type: \"Softmax\" softmax_param { axis: 1 }", [Fixtures.gaussianBlob([2, 3, 2, 2])])
        try expectGradientsMatch("name: \"sm\" type: \"Softmax\" softmax_param { axis: -1 }", [Fixtures.gaussianBlob([2, 3, 4])])
    }

    @Test func softmaxForwardSumsToOne() throws {
        let (_, t) = try runForward("name: \"sm\" type: \"Softmax\"", [Fixtures.gaussianBlob([2, 3, 2, 2], std: 5)])
        let y = t[0]
        for n in 0..<2 {
            for j in 0..<4 {
                var s: Float = 0
                for c in 0..<3 { s += y.data[n * 12 + c * 4 + j] }
                #expect(abs(s - 1) < 1e-5)
            }
        }
        let (_, t2) = try runForward("name: \"sm\" type: \"Softmax\"", [Blob(shape: [1, 3], values: [1000, 1001, 1002])])
        let e: [Float] = [0, 1, 2].map { Float(Foundation.exp(Double($0))) }
        let z = e.reduce(0, +)
        expectClose(t2[0].dataArray, e.map { $0 / z })
    }

    @Test(arguments: ["", "loss_param { normalization: FULL }", "loss_param { normalization: VALID }",
                      "loss_param { normalization: BATCH_SIZE }", "loss_param { normalization: NONE }",
                      "loss_param { normalize: false }", "loss_param { normalize: true }"])
    func softmaxLossGradient(_ p: String) throws {
        try expectGradientsMatch("name: \"loss\" type: \"SoftmaxWithLoss\" \(p)",
                                 [Fixtures.gaussianBlob([4, 5]), Self.labels([4], classes: 5)],
                                 checker: Self.lossChecker, checkBottoms: [0])
        // Spatial: softmax over axis 1 of (N, C, H, W), labels (N, H, W).
        try expectGradientsMatch("name: \"loss\" type: \"SoftmaxWithLoss\" \(p)",
                                 [Fixtures.gaussianBlob([2, 3, 2, 2]), Self.labels([2, 2, 2], classes: 3)],
                                 checker: Self.lossChecker, checkBottoms: [0])
    }

    @Test(arguments: ["FULL", "VALID", "BATCH_SIZE", "NONE"])
    func softmaxLossGradientWithIgnoreLabel(_ mode: String) throws {
        let labels = Self.labels([2, 2, 2], classes: 3)
        labels.data[1] = -1; labels.data[6] = -1
        try expectGradientsMatch("name: \"loss\" type: \"SoftmaxWithLoss\" loss_param { ignore_label: -1 normalization: \(mode) }",
                                 [Fixtures.gaussianBlob([2, 3, 2, 2]), labels],
                                 checker: Self.lossChecker, checkBottoms: [0])
    }

    /// −log softmax(x)[l] = log Σ e^x − x_l, written out by hand.
    static func nll(_ x: [Double], _ l: Int) -> Double { Foundation.log(x.map { Foundation.exp($0) }.reduce(0, +)) - x[l] }

    @Test func softmaxLossValues() throws {
        let scores: [Float] = [1, 2, 3, 1, 1, 1]
        let l0 = Self.nll([1, 2, 3], 2), l1 = Self.nll([1, 1, 1], 0)   // l1 = log 3
        func loss(_ p: String, labels: [Float] = [2, 0]) throws -> Float {
            try runForward("name: \"loss\" type: \"SoftmaxWithLoss\" \(p)",
                           [Blob(shape: [2, 3], values: scores), Blob(shape: [2], values: labels)]).tops[0].dataArray[0]
        }
        #expect(abs(Double(try loss("")) - (l0 + l1) / 2) < 1e-5)
        #expect(abs(Double(try loss("loss_param { normalization: NONE }")) - (l0 + l1)) < 1e-5)
        // Ignoring sample 1: VALID divides by 1, FULL and BATCH_SIZE by 2, NONE by nothing.
        let ig = "ignore_label: 7"
        #expect(abs(Double(try loss("loss_param { \(ig) }", labels: [2, 7])) - l0) < 1e-5)
        #expect(abs(Double(try loss("loss_param { \(ig) normalization: FULL }", labels: [2, 7])) - l0 / 2) < 1e-5)
        #expect(abs(Double(try loss("loss_param { \(ig) normalization: BATCH_SIZE }", labels: [2, 7])) - l0 / 2) < 1e-5)
        #expect(abs(Double(try loss("loss_param { \(ig) normalization: NONE }", labels: [2, 7])) - l0) < 1e-5)
        #expect(abs(Double(try loss("loss_param { \(ig) normalize: true }", labels: [2, 7])) - l0) < 1e-5)
        #expect(abs(Double(try loss("loss_param { \(ig) normalize: false }", labels: [2, 7])) - l0 / 2) < 1e-5)
        // All ignored: the normalizer never drops below 1, so the loss is 0, not NaN.
        #expect(try loss("loss_param { \(ig) }", labels: [7, 7]) == 0)
    }

    @Test func softmaxLossProbTopAndFlags() throws {
        let x = Blob(shape: [1, 3], values: [1, 2, 3])
        let (layer, t) = try runForward("name: \"loss\" type: \"SoftmaxWithLoss\"", [x, Blob(shape: [1], values: [1])], tops: 2)
        let z = Foundation.exp(1.0) + Foundation.exp(2.0) + Foundation.exp(3.0)
        expectClose(t[1].dataArray, [1, 2, 3].map { Float(Foundation.exp($0) / z) })
        #expect(t[0].shape == [])
        #expect(layer.isLoss)
        #expect(layer.allowForceBackward(0) && !layer.allowForceBackward(1))
    }

    @Test func outOfRangeLabelsAreErrors() throws {
        let x = Fixtures.gaussianBlob([3, 4])
        for (bad, text) in [(Float(4), "4"), (-1, "-1"), (.nan, "nan")] {
            let labels = Blob(shape: [3], values: [0, bad, 2])
            let m = errorMessage {
                _ = try runForward("name: \"myloss\" type: \"SoftmaxWithLoss\"", [x, labels])
            }
            #expect(m?.contains("myloss") == true, "\(m ?? "")")
            #expect(m?.contains(text) == true, "\(m ?? "")")
            #expect(m?.contains("sample 1") == true, "\(m ?? "")")
            #expect(m?.contains("[0, 4)") == true, "\(m ?? "")")
            let a = errorMessage {
                _ = try runForward("name: \"acc\" type: \"Accuracy\"", [x, labels])
            }
            #expect(a?.contains("acc") == true && a?.contains("sample 1") == true && a?.contains("[0, 4)") == true, "\(a ?? "")")
        }
        // ignore_label is not out of range.
        let ok = try runForward("name: \"l\" type: \"SoftmaxWithLoss\" loss_param { ignore_label: -1 }",
                                [x, Blob(shape: [3], values: [0, -1, 2])])
        #expect(ok.tops[0].dataArray[0].isFinite)
        let mismatch = errorMessage {
            _ = try runForward("name: \"l\" type: \"SoftmaxWithLoss\"", [Fixtures.gaussianBlob([3, 4]), Blob(shape: [3, 2])])
        }
        #expect(mismatch?.contains("labels") == true)
    }

    @Test func accuracyTopK() throws {
        let scores: [Float] = [0.1, 0.5, 0.4,
                               0.3, 0.2, 0.5,
                               0.6, 0.3, 0.1,
                               0.2, 0.2, 0.6]
        func acc(_ p: String, tops: Int = 1) throws -> [Blob] {
            try runForward("name: \"acc\" type: \"Accuracy\" \(p)",
                           [Blob(shape: [4, 3], values: scores), Blob(shape: [4], values: [2, 0, 0, 1])], tops: tops).tops
        }
        #expect(try acc("")[0].dataArray[0] == 0.25)
        #expect(try acc("accuracy_param { top_k: 2 }")[0].dataArray[0] == 0.75)  // a tie counts against the label
        #expect(try acc("accuracy_param { top_k: 3 }")[0].dataArray[0] == 1)
        #expect(abs(try acc("accuracy_param { ignore_label: 1 }")[0].dataArray[0] - 1.0 / 3) < 1e-6)
        let perClass = try acc("", tops: 2)
        #expect(perClass[1].shape == [3])
        #expect(perClass[1].dataArray == [0.5, 0, 0])
        // No gradient: asked anyway (force_backward), the bottoms get zeros, not stale values.
        let x = Blob(shape: [4, 3], values: scores), l = Blob(shape: [4], values: [2, 0, 0, 1])
        x.setDiff(Array(repeating: 3, count: 12))
        let (layer, t) = try runForward("name: \"acc\" type: \"Accuracy\"", [x, l])
        layer.backward(top: t, propagateDown: [true, false], bottom: [x, l])
        #expect(x.diffArray.allSatisfy { $0 == 0 })
        #expect(try acc("accuracy_param { top_k: 2 }", tops: 2)[1].dataArray == [1, 0, 1])
        let m = errorMessage { _ = try acc("accuracy_param { top_k: 4 }") }
        #expect(m?.contains("top_k") == true)
    }

    @Test func accuracySpatialAxis() throws {
        // (N=1, C=2, H=1, W=3): positions 0,1,2 argmax classes 1,0,1
        let scores: [Float] = [0, 5, 0,
                               1, 4, 2]
        let (_, t) = try runForward("name: \"acc\" type: \"Accuracy\"",
                                    [Blob(shape: [1, 2, 1, 3], values: scores), Blob(shape: [1, 1, 3], values: [1, 0, 0])])
        #expect(abs(t[0].dataArray[0] - 2.0 / 3) < 1e-6)
    }

    @Test func euclideanLossGradientAndValue() throws {
        try expectGradientsMatch("name: \"l\" type: \"EuclideanLoss\"",
                                 [Fixtures.gaussianBlob([3, 4], seed: 1), Fixtures.gaussianBlob([3, 4], seed: 2)],
                                 checker: Self.lossChecker)
        let (l, t) = try runForward("name: \"l\" type: \"EuclideanLoss\"",
                                    [Blob(shape: [2, 2], values: [1, 2, 3, 4]), Blob(shape: [2, 2], values: [0, 0, 3, 6])])
        #expect(t[0].dataArray[0] == (1 + 4 + 0 + 4) / 2.0 / 2.0)
        #expect(l.isLoss)
    }
}
