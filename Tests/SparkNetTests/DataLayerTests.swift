import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

@Suite struct DataLayerTests {
    /// 3 samples of data (2×2) and scalar labels: sample s has data 10s + (0,1,2,3), label s.
    static func source() throws -> ArraySource {
        try ArraySource([
            (name: "label", sampleShape: [], values: [0, 1, 2]),
            (name: "data", sampleShape: [2, 2], values: (0..<3).flatMap { s in (0..<4).map { Float(10 * s + $0) } }),
        ])
    }

    static let layerText = """
        name: "data" type: "HDF5Data" top: "data" top: "label"
        hdf5_data_param { source: "train.txt" batch_size: 2 }
        """

    @Test func readsBatchesFromTheProvidedSource() throws {
        let src = try Self.source()
        nonisolated(unsafe) var asked: [(String, Caffe_Phase)] = []
        let context = testContext()
        context.sourceProvider = { p, phase in asked.append((p.hdf5DataParam.source, phase)); return src }
        let (layer, tops) = try runForward(Self.layerText, [], tops: 2, phase: .test, context: context)
        #expect(asked.count == 1 && asked[0].0 == "train.txt" && asked[0].1 == .test)
        #expect(tops[0].shape == [2, 2, 2])
        #expect(tops[1].shape == [2])
        #expect(tops[0].dataArray == [0, 1, 2, 3, 10, 11, 12, 13])
        #expect(tops[1].dataArray == [0, 1])
        try layer.forward(bottom: [], top: tops)  // wraps around the end of the epoch
        #expect(tops[0].dataArray == [20, 21, 22, 23, 0, 1, 2, 3])
        #expect(tops[1].dataArray == [2, 0])
        #expect(src.position == 4)
        #expect((layer as? DataLayer)?.source === src)
    }

    @Test func unusedDatasetsAreSkipped() throws {
        let context = testContext()
        let src = try Self.source()
        context.sourceProvider = { _, _ in src }
        let (_, tops) = try runForward("""
            name: "d" type: "HDF5Data" top: "data" hdf5_data_param { source: "x.txt" batch_size: 3 }
            """, [], tops: 1, context: context)
        #expect(tops[0].shape == [3, 2, 2])
        let expected: [Float] = (0..<12).map { (i: Int) -> Float in Float(10 * (i / 4) + i % 4) }
        #expect(tops[0].dataArray == expected)
    }

    @Test func errorsNameTheProblem() throws {
        let none = errorMessage { _ = try runForward(Self.layerText, [], tops: 2) }
        #expect(none?.contains("needs a data source") == true && none?.contains("'data'") == true, "\(none ?? "")")

        let context = testContext()
        context.sourceProvider = { _, _ in try ArraySource([(name: "data", sampleShape: [2], values: [1, 2])]) }
        let missing = errorMessage { _ = try runForward(Self.layerText, [], tops: 2, context: context) }
        #expect(missing?.contains("label") == true && missing?.contains("train.txt") == true, "\(missing ?? "")")

        let transformed = errorMessage {
            _ = try runForward(Self.layerText + " transform_param { scale: 0.5 }", [], tops: 2, context: context)
        }
        #expect(transformed?.contains("does not transform data") == true, "\(transformed ?? "")")
    }

    @Test func setSourceChecksShapes() throws {
        let context = testContext()
        context.sourceProvider = { _, _ in try Self.source() }
        let (layer, tops) = try runForward(Self.layerText, [], tops: 2, context: context)
        let data = try #require(layer as? DataLayer)
        let other = try ArraySource([
            (name: "data", sampleShape: [2, 2], values: Array(repeating: 7, count: 4)),
            (name: "label", sampleShape: [], values: [5]),
        ])
        try data.setSource(other)
        #expect(data.source === other)
        try layer.forward(bottom: [], top: tops)
        #expect(tops[0].dataArray == Array(repeating: 7, count: 8))
        #expect(tops[1].dataArray == [5, 5])
        let wrong = try ArraySource([
            (name: "data", sampleShape: [4], values: Array(repeating: 7, count: 4)),
            (name: "label", sampleShape: [], values: [5]),
        ])
        let m = errorMessage { try data.setSource(wrong) }
        #expect(m?.contains("data") == true && m?.contains("[2, 2]") == true, "\(m ?? "")")
        #expect(data.source === other)
    }

    @Test func feedsANet() throws {
        let src = try ArraySource([
            (name: "data", sampleShape: [3], values: (0..<12).map { Float($0) / 12 }),
            (name: "label", sampleShape: [], values: [0, 1, 1, 0]),
        ])
        let context = NetContext(seed: 1, sourceProvider: { _, _ in src })
        let net = try Fixtures.net("""
            layer { name: "d" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "s.txt" batch_size: 2 } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                    inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """, context: context)
        let l1 = try net.forwardBackward()
        let l2 = try net.forwardBackward()
        #expect(l1.isFinite && l2.isFinite && l1 > 0)
        #expect(src.position == 4)
        #expect(net.blob(named: "data")!.shape == [2, 3])
        withExtendedLifetime(context) {}
    }
}
