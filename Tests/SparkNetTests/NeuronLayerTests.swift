import Foundation
import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct NeuronLayerTests {
    static var relu: GradientChecker { GradientChecker(kink: 0, kinkRange: 0.01) }

    @Test func reluGradient() throws {
        try expectGradientsMatch("name: \"relu\" type: \"ReLU\"", [Fixtures.gaussianBlob([2, 3, 4])], checker: Self.relu)
    }

    @Test func leakyReluGradient() throws {
        try expectGradientsMatch("name: \"relu\" type: \"ReLU\" relu_param { negative_slope: 0.1 }",
                                 [Fixtures.gaussianBlob([2, 3, 4])], checker: Self.relu)
    }

    @Test func sigmoidGradient() throws {
        try expectGradientsMatch("name: \"sig\" type: \"Sigmoid\"", [Fixtures.gaussianBlob([2, 3, 4])])
    }

    @Test func tanhGradient() throws {
        try expectGradientsMatch("name: \"tanh\" type: \"TanH\"", [Fixtures.gaussianBlob([2, 3, 4])])
    }

    @Test func exactForwardValues() throws {
        let x: [Float] = [-2, -0.5, 0, 1.5]
        let (_, r) = try runForward("name: \"r\" type: \"ReLU\" relu_param { negative_slope: 0.1 }", [Blob(shape: [4], values: x)])
        expectClose(r[0].dataArray, [-0.2, -0.05, 0, 1.5])
        let (_, s) = try runForward("name: \"s\" type: \"Sigmoid\"", [Blob(shape: [4], values: x)])
        expectClose(s[0].dataArray, x.map { 1 / (1 + Foundation.exp(-$0)) })
        let (_, t) = try runForward("name: \"t\" type: \"TanH\"", [Blob(shape: [4], values: x)])
        expectClose(t[0].dataArray, x.map { Foundation.tanh($0) })
    }

    /// In place (top === bottom), forward and backward give what the out-of-place layer gives.
    @Test(arguments: ["type: \"ReLU\"", "type: \"ReLU\" relu_param { negative_slope: 0.2 }",
                      "type: \"Sigmoid\"", "type: \"TanH\"", "type: \"Softmax\"",
                      "type: \"Dropout\" dropout_param { dropout_ratio: 0.3 }"])
    func inPlaceMatchesOutOfPlace(_ def: String) throws {
        let text = "name: \"n\" " + def
        let x = Fixtures.gaussianBlob([3, 4], seed: 11)
        let dy: [Float] = (0..<12).map { Float($0) * 0.1 - 0.5 }

        let ctxA = NetContext(seed: 5)
        let a = try makeLayer(text, context: ctxA)
        let bottomA = Blob(shape: x.shape, values: x.dataArray), topA = Blob()
        try a.setUpAndReshape(bottom: [bottomA], top: [topA])
        try a.forward(bottom: [bottomA], top: [topA])
        topA.setDiff(dy)
        a.backward(top: [topA], propagateDown: [true], bottom: [bottomA])

        let ctxB = NetContext(seed: 5)
        let b = try makeLayer(text, context: ctxB)
        let blob = Blob(shape: x.shape, values: x.dataArray)
        try b.setUpAndReshape(bottom: [blob], top: [blob])
        try b.forward(bottom: [blob], top: [blob])
        expectClose(blob.dataArray, topA.dataArray)
        blob.setDiff(dy)
        b.backward(top: [blob], propagateDown: [true], bottom: [blob])
        expectClose(blob.diffArray, bottomA.diffArray)
    }
}
