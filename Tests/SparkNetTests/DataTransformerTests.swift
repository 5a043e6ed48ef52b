import Foundation
import Testing
import CaffeProto
import SparkNet

/// Caffe's transform_param semantics, checked against hand-computed values.
@Suite struct DataTransformerTests {
    static func param(_ text: String) throws -> Caffe_TransformationParameter {
        try Prototxt.parse("transform_param { \(text) }", as: Caffe_LayerParameter.self, path: "<test>").transformParam
    }

    static func transformer(_ text: String, phase: Caffe_Phase = .train, shape: [Int]) throws -> DataTransformer {
        try DataTransformer(param: param(text), phase: phase, inputShape: shape, label: "layer 'd'")
    }

    /// Runs `t` on `input` (as floats, and as bytes when every value is a byte) and expects both
    /// paths to agree bit for bit.
    static func run(_ t: DataTransformer, _ input: [Float], key: UInt64 = 0) -> [Float] {
        let n = t.outputShape.reduce(1, *)
        var out = [Float](repeating: .nan, count: n)
        input.withUnsafeBufferPointer { t.transform($0.baseAddress!, into: &out, sampleKey: key) }
        if input.allSatisfy({ $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }) {
            let bytes = input.map { UInt8($0) }
            var fromBytes = [Float](repeating: .nan, count: n)
            bytes.withUnsafeBufferPointer { t.transform($0.baseAddress!, into: &fromBytes, sampleKey: key) }
            #expect(fromBytes.map(\.bitPattern) == out.map(\.bitPattern))
        }
        return out
    }

    /// A mean BlobProto file; legacy 4-D fields, or `shape` when `legacy` is false.
    static func meanFile(_ shape: [Int], _ values: [Float], legacy: Bool = true) throws -> String {
        var p = Caffe_BlobProto()
        if legacy {
            p.num = Int32(shape[0]); p.channels = Int32(shape[1]); p.height = Int32(shape[2]); p.width = Int32(shape[3])
        } else {
            p.shape.dim = shape.map { Int64($0) }
        }
        p.data = values
        let path = NSTemporaryDirectory() + "mean-\(UUID().uuidString).binaryproto"
        try Data(p.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let ramp16: [Float] = (0..<16).map { Float($0) }

    @Test func centreCropInTest() throws {
        // 1×4×4 ramp, crop 2 at ((4−2)/2, (4−2)/2) = (1, 1): values 5, 6, 9, 10, at any key.
        let t = try Self.transformer("crop_size: 2", phase: .test, shape: [1, 4, 4])
        #expect(t.outputShape == [1, 2, 2])
        for key: UInt64 in [0, 1, 99] { #expect(Self.run(t, Self.ramp16, key: key) == [5, 6, 9, 10]) }
        // 1×5×4: offsets ((5−2)/2, (4−2)/2) = (1, 1) as well; rows of 4.
        let odd = try Self.transformer("crop_size: 2", phase: .test, shape: [1, 5, 4])
        #expect(Self.run(odd, (0..<20).map { Float($0) }) == [5, 6, 9, 10])
    }

    @Test func mirrorFlipsEachRowOfEachChannel() throws {
        let t = try Self.transformer("mirror: true", shape: [2, 1, 3])
        let input: [Float] = [1, 2, 3, 4, 5, 6]
        var seen = Set<[Float]>()
        for key in UInt64(0)..<64 {
            let out = Self.run(t, input, key: key)
            #expect(out == input || out == [3, 2, 1, 6, 5, 4], "\(out)")
            #expect(Self.run(t, input, key: key) == out)  // the key alone decides
            seen.insert(out)
        }
        #expect(seen.count == 2)
    }

    @Test func testPhaseNeverMirrors() throws {
        let t = try Self.transformer("mirror: true", phase: .test, shape: [1, 1, 3])
        for key in UInt64(0)..<200 { #expect(Self.run(t, [1, 2, 3], key: key) == [1, 2, 3]) }
    }

    @Test func meanFileIsReadAtTheCropOffset() throws {
        // mean[i] = i², scale 0.5, centre crop 2 of 4×4 at (1, 1): indices 5, 6, 9, 10.
        // (5 − 25)·0.5 = −10, (6 − 36)·0.5 = −15, (9 − 81)·0.5 = −36, (10 − 100)·0.5 = −45.
        for legacy in [true, false] {
            let mean = try Self.meanFile([1, 1, 4, 4], Self.ramp16.map { $0 * $0 }, legacy: legacy)
            defer { try? FileManager.default.removeItem(atPath: mean) }
            let t = try Self.transformer("crop_size: 2 mean_file: \"\(mean)\" scale: 0.5", phase: .test, shape: [1, 4, 4])
            #expect(Self.run(t, Self.ramp16) == [-10, -15, -36, -45])
        }
        // A C×H×W mean (no num axis) is accepted too.
        let mean3 = try Self.meanFile([1, 4, 4], Self.ramp16, legacy: false)
        defer { try? FileManager.default.removeItem(atPath: mean3) }
        let t3 = try Self.transformer("mean_file: \"\(mean3)\"", shape: [1, 4, 4])
        #expect(Self.run(t3, Self.ramp16) == Array(repeating: 0, count: 16))
    }

    @Test func meanValuePerChannelOrOne() throws {
        let input: [Float] = [10, 20, 30, 40, 50, 60]  // 3×1×2
        let per = try Self.transformer("mean_value: 1 mean_value: 2 mean_value: 3", shape: [3, 1, 2])
        #expect(Self.run(per, input) == [9, 19, 28, 38, 47, 57])
        let one = try Self.transformer("mean_value: 5", shape: [3, 1, 2])
        #expect(Self.run(one, input) == [5, 15, 25, 35, 45, 55])
    }

    @Test func scaleAppliesAfterTheMean() throws {
        // (10 − 4) × 0.5 = 3, not 10 × 0.5 − 4 = 1.
        let t = try Self.transformer("mean_value: 4 scale: 0.5", shape: [1, 1, 1])
        #expect(Self.run(t, [10]) == [3])
        let bytes = try Self.transformer("scale: 0.00390625", shape: [1, 1, 2])
        #expect(Self.run(bytes, [255, 128]) == [255 * 0.00390625, 0.5])
    }

    @Test func randomCropCoversEveryOffsetAndIsFixedPerKey() throws {
        // 1×3×3 ramp, crop 2: four offsets; the first output value is 3·h + w.
        let t = try Self.transformer("crop_size: 2", shape: [1, 3, 3])
        let input = (0..<9).map { Float($0) }
        var offsets = Set<Float>()
        for key in UInt64(0)..<400 {
            let out = Self.run(t, input, key: key)
            let first = out[0]
            #expect(out == [first, first + 1, first + 3, first + 4])
            #expect(Self.run(t, input, key: key) == out)
            offsets.insert(first)
        }
        #expect(offsets == [0, 1, 3, 4])
    }

    @Test func crossingCropMirrorMeanScale() throws {
        // TRAIN, crop 2 of 1×3×3, mirror, mean 1, scale 2: every output is one of the 8
        // hand-enumerable (offset, flip) results.
        let t = try Self.transformer("crop_size: 2 mirror: true mean_value: 1 scale: 2", shape: [1, 3, 3])
        let input = (0..<9).map { Float($0) }
        var results = Set<[Float]>()
        for key in UInt64(0)..<400 {
            let out = Self.run(t, input, key: key)
            var expected: Set<[Float]> = []
            for h in 0...1 { for w in 0...1 {
                let v = [3 * h + w, 3 * h + w + 1, 3 * h + w + 3, 3 * h + w + 4].map { Float($0 - 1) * 2 }
                expected.insert(v)
                expected.insert([v[1], v[0], v[3], v[2]])
            } }
            #expect(expected.contains(out), "\(out)")
            results.insert(out)
        }
        #expect(results.count == 8)
    }

    @Test func shortSamplesAreCaffeLegacyAxes() throws {
        // A [D] sample is D×1×1: one mean per element's channel.
        let t = try Self.transformer("mean_value: 1 mean_value: 2", shape: [2])
        #expect(t.outputShape == [2])
        #expect(Self.run(t, [5, 5]) == [4, 3])
    }

    @Test func forceColorAndGrayAreIgnoredForDecodedData() throws {
        let t = try Self.transformer("force_color: true", shape: [1, 1, 2])
        #expect(Self.run(t, [1, 2]) == [1, 2])
    }

    @Test func errorsNameTheLayerAndField() throws {
        let big = errorMessage { _ = try Self.transformer("crop_size: 227", shape: [1, 28, 28]) }
        #expect(big == "layer 'd': transform_param.crop_size 227 > image 28×28", "\(big ?? "")")

        let missing = errorMessage { _ = try Self.transformer("mean_file: \"/nonexistent/mean.binaryproto\"", shape: [1, 2, 2]) }
        #expect(missing?.contains("layer 'd': transform_param.mean_file '/nonexistent/mean.binaryproto' not found") == true, "\(missing ?? "")")

        let textPath = NSTemporaryDirectory() + "mean-\(UUID().uuidString).txt"
        try "not a blob\n".write(toFile: textPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: textPath) }
        let text = errorMessage { _ = try Self.transformer("mean_file: \"\(textPath)\"", shape: [1, 2, 2]) }
        #expect(text?.contains("is not a BlobProto") == true && text?.contains("layer 'd'") == true, "\(text ?? "")")
        let garbage = NSTemporaryDirectory() + "mean-\(UUID().uuidString).bin"
        try Data([0xFF, 0xFF, 0xFF]).write(to: URL(fileURLWithPath: garbage))
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        let bad = errorMessage { _ = try Self.transformer("mean_file: \"\(garbage)\"", shape: [1, 2, 2]) }
        #expect(bad?.contains("is not a BlobProto") == true, "\(bad ?? "")")

        let mean = try Self.meanFile([1, 3, 4, 4], Array(repeating: 0, count: 48))
        defer { try? FileManager.default.removeItem(atPath: mean) }
        let shape = errorMessage { _ = try Self.transformer("mean_file: \"\(mean)\"", shape: [1, 4, 4]) }
        #expect(shape?.contains("1×3×4×4") == true && shape?.contains("1×4×4") == true, "\(shape ?? "")")
        let shortMean = try Self.meanFile([1, 1, 2, 2], [1, 2, 3])  // 3 values for 4
        defer { try? FileManager.default.removeItem(atPath: shortMean) }
        let short = errorMessage { _ = try Self.transformer("mean_file: \"\(shortMean)\"", shape: [1, 2, 2]) }
        #expect(short?.contains("is not a BlobProto") == true, "\(short ?? "")")

        let count = errorMessage { _ = try Self.transformer("mean_value: 1 mean_value: 2", shape: [3, 2, 2]) }
        #expect(count == "layer 'd': transform_param has 2 mean_value entries; give 1 or one per channel (3)", "\(count ?? "")")

        let both = errorMessage { _ = try Self.transformer("mean_file: \"\(mean)\" mean_value: 1", shape: [3, 4, 4]) }
        #expect(both?.contains("both mean_file and mean_value") == true, "\(both ?? "")")

        let rank4 = errorMessage { _ = try Self.transformer("scale: 2", shape: [1, 1, 2, 2]) }
        #expect(rank4?.contains("C×H×W") == true, "\(rank4 ?? "")")
    }
}

/// The Data layer type, and transform_param allowed only with a source that applies it.
@Suite struct DataLayerTypeTests {
    /// An ArraySource that claims to apply transform_param (what an LMDB or HDF5 source does).
    final class TransformingSource: BatchSource {
        let inner: ArraySource
        init(_ inner: ArraySource) { self.inner = inner }
        var topNames: [String] { inner.topNames }
        var sampleShapes: [[Int]] { inner.sampleShapes }
        var sampleCount: Int { inner.sampleCount }
        var position: Int { get { inner.position } set { inner.position = newValue } }
        var appliesTransform: Bool { true }
        func nextBatch(into tops: [UnsafeMutablePointer<Float>], batchSize: Int) throws {
            try inner.nextBatch(into: tops, batchSize: batchSize)
        }
    }

    static func source() throws -> ArraySource {
        try ArraySource([(name: "data", sampleShape: [2], values: [1, 2, 3, 4]),
                         (name: "label", sampleShape: [], values: [0, 1])])
    }

    static let dataLayer = """
        name: "d" type: "Data" top: "data" top: "label"
        data_param { source: "train_lmdb" batch_size: 2 backend: LMDB }
        """

    @Test func dataTypeReadsBatchSizeFromDataParam() throws {
        let context = testContext()
        let src = try Self.source()
        context.sourceProvider = { _, _ in src }
        let (_, tops) = try runForward(Self.dataLayer, [], tops: 2, context: context)
        #expect(tops[0].shape == [2, 2] && tops[0].dataArray == [1, 2, 3, 4])
        #expect(tops[1].dataArray == [0, 1])

        let none = errorMessage { _ = try runForward(Self.dataLayer, [], tops: 2) }
        #expect(none?.contains("data_param.source 'train_lmdb'") == true, "\(none ?? "")")
        let zero = errorMessage {
            _ = try runForward("name: \"d\" type: \"Data\" top: \"data\" data_param { source: \"x\" }", [], tops: 1, context: context)
        }
        #expect(zero?.contains("data_param.batch_size must be positive") == true, "\(zero ?? "")")
    }

    @Test func transformParamNeedsASourceThatAppliesIt() throws {
        let text = Self.dataLayer + " transform_param { scale: 0.5 }"
        let plain = testContext()
        plain.sourceProvider = { _, _ in try Self.source() }
        let refused = errorMessage { _ = try runForward(text, [], tops: 2, context: plain) }
        #expect(refused?.contains("does not transform data") == true, "\(refused ?? "")")

        let applying = testContext()
        applying.sourceProvider = { _, _ in TransformingSource(try Self.source()) }
        let (layer, _) = try runForward(text, [], tops: 2, context: applying)
        // Swapping in a source that does not apply it is refused as well.
        let swap = errorMessage { try (layer as? DataLayer)?.setSource(try Self.source()) }
        #expect(swap?.contains("does not transform data") == true, "\(swap ?? "")")
    }
}
