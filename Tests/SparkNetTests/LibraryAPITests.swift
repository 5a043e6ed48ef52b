import Foundation
import Testing
import CaffeProto
import SparkNet

/// The library example of docs/library-example.md, compiled and checked: a tiny net trains on an
/// in-memory source, its loss goes down, and its weights round-trip.
@Suite struct LibraryAPITests {
    @Test func libraryExampleTrainsAndWeightsRoundTrip() throws {
        // --- example begins (kept identical to docs/library-example.md)
        let netText = """
        layer { name: "data" type: "HDF5Data" top: "x" top: "label" hdf5_data_param { batch_size: 16 } }
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "score"
                inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
        layer { name: "accuracy" type: "Accuracy" bottom: "score" bottom: "label" top: "accuracy"
                include { phase: TEST } }
        """
        // 64 points in the plane, labelled by the side of a line they lie on.
        let points: [[Float]] = (0..<64).map { i in [Float(i % 8) / 4 - 1, Float(i / 8) / 4 - 0.9] }
        let data = try ArraySource([("x", [2], points.flatMap { $0 }),
                                    ("label", [], points.map { $0[0] > $0[1] ? Float(1) : 0 })])
        var settings = Model.defaultSolver          // SGD with a fixed learning rate
        settings.baseLr = 0.5
        let model = try Model(net: try Prototxt.parseNet(netText), solver: settings,
                              trainingData: data, validationData: data)
        let before = try model.test(steps: 4)       // ["loss": 0.72, "accuracy": 0.06]
        try model.train(steps: 100)
        let after = try model.test(steps: 4)        // ["loss": 0.16, "accuracy": 1.0]
        let weights = model.weights                 // by layer name; add with +, scale with scaled(by:)
        try model.setWeights(weights.scaled(by: 1))
        // --- example ends

        #expect(after["loss"]! < before["loss"]! * 0.5, "loss \(before) -> \(after)")
        #expect(after["accuracy"]! > 0.9, "\(after)")
        #expect(Set(after.keys) == ["loss", "accuracy"])
        #expect(model.weights == weights)
        #expect(weights.layerNames == ["ip"] && weights["ip"]!.map { $0.shape } == [[2, 2], [2]])

        // A fresh model given these weights tests the same.
        let fresh = try Model(net: try Prototxt.parseNet(netText), solver: settings,
                              trainingData: data, validationData: data, context: NetContext(seed: 99))
        #expect(fresh.weights != weights)
        try fresh.setWeights(weights)
        #expect(fresh.weights == weights)
        data.position = 0
        let again = try fresh.test(steps: 4)
        data.position = 0
        #expect(again == (try model.test(steps: 4)))

        // Averaging two models is (a + b) / 2.
        try fresh.train(steps: 10)
        let mean = try (model.weights + fresh.weights).scaled(by: 0.5)
        try model.setWeights(mean)
        #expect(model.weights == mean)
    }

    @Test func dataSourcesSwap() throws {
        let netText = """
        layer { name: "data" type: "HDF5Data" top: "x" top: "label" hdf5_data_param { batch_size: 4 } }
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "score"
                inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
        """
        func source(_ label: Float, width: Int = 3) throws -> ArraySource {
            try ArraySource([("x", [width], Array(repeating: 1, count: 8 * width)),
                             ("label", [], Array(repeating: label, count: 8))])
        }
        let model = try Model(net: try Prototxt.parseNet(netText), trainingData: try source(0),
                              validationData: try source(0))
        let zero = try model.test(steps: 1)["loss"]!
        try model.setValidationData(try source(1))
        let one = try model.test(steps: 1)["loss"]!
        #expect(zero != one)   // the swapped source feeds the test net
        let replacement = try source(1)
        try model.setTrainingData(replacement)
        try model.train(steps: 2)
        #expect(replacement.position == 8)
        // A source with other sample shapes is refused, naming the layer and both shapes.
        #expect { try model.setTrainingData(try source(0, width: 5)) } throws: {
            "\($0)".contains("'data'") && "\($0)".contains("[5]") && "\($0)".contains("[3]")
        }
        // Without data the model says which it needs.
        #expect { _ = try Model(net: try Prototxt.parseNet(netText)) } throws: { "\($0)".contains("trainingData") }
    }

    @Test func modelFromSolverPrototxt() throws {
        let dir = NSTemporaryDirectory() + "model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        layer { name: "data" type: "HDF5Data" top: "x" top: "label" hdf5_data_param { source: "train.txt" batch_size: 4 } include { phase: TRAIN } }
        layer { name: "data" type: "HDF5Data" top: "x" top: "label" hdf5_data_param { source: "test.txt" batch_size: 2 } include { phase: TEST } }
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "score" inner_product_param { num_output: 2 } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
        """.write(toFile: "\(dir)/net.prototxt", atomically: true, encoding: .utf8)
        try "net: \"net.prototxt\" base_lr: 0.1 lr_policy: \"fixed\" test_iter: 3 test_interval: 1000 test_initialization: false solver_type: SGD"
            .write(toFile: "\(dir)/solver.prototxt", atomically: true, encoding: .utf8)
        let train = try ArraySource([("x", [3], (0..<24).map(Float.init)), ("label", [], Array(repeating: 1, count: 8))])
        let test = try ArraySource([("x", [3], (0..<24).map(Float.init)), ("label", [], Array(repeating: 0, count: 8))])
        let model = try Model(solverPrototxt: "\(dir)/solver.prototxt", trainingData: train, validationData: test)
        #expect(model.solver.param.type == "SGD")
        #expect(model.solver.param.snapshotPrefix == "\(dir)/solver")
        try model.train(steps: 3)
        #expect(model.solver.iter == 3 && train.position == 12)
        _ = try model.test(steps: 5)
        #expect(test.position == 10)   // batch_size 2 of the TEST data layer
    }

    /// docs/library-example.md shows exactly the code this suite runs.
    @Test func docExampleMatchesTheTest() throws {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/library-example.md"), encoding: .utf8)
        let test = try String(contentsOf: here, encoding: .utf8)
        func lines(_ s: Substring) -> [String] {
            s.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let start = test.range(of: "// --- example begins"), let end = test.range(of: "// --- example ends"),
              let open = doc.range(of: "```swift\n"),
              let close = doc.range(of: "```", range: open.upperBound..<doc.endIndex) else {
            Issue.record("markers not found"); return
        }
        let testLines = lines(test[start.upperBound..<end.lowerBound]).dropFirst()  // the marker's own tail
        let docLines = lines(doc[open.upperBound..<close.lowerBound]).filter { !$0.hasPrefix("import ") }
        #expect(Array(testLines) == docLines)
    }
}
