import CaffeProto
import CHDF5
import Foundation
@testable import SparkNet
@testable import SparkNetMPI
import Testing

/// uint8 datasets and transform_param in the HDF5 source.
@Suite(.serialized)
struct HDF5TransformTests {
    init() { MPIEnvironment.initialize() }

    static let rows = 10
    /// One sample of `data`: 3×5×5 bytes.
    static let shape = [3, 5, 5]
    static var sampleSize: Int { shape.reduce(1, *) }

    /// Byte k of row r.
    static func byte(_ r: Int, _ k: Int) -> UInt8 { UInt8((r * 37 + k * 7) % 256) }

    /// A file with `data` uint8 rows×3×5×5 and `label` float32 (= the row index); returns the
    /// list file's path.
    static func writeFixture(rows: Int = rows) throws -> String {
        let dir = NSTemporaryDirectory() + "sparknet-h5t-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {  // the file closes at the end of this scope
            let file = try HDF5File.create(dir + "/u8.h5")
            let data = (0..<rows).flatMap { r in (0..<sampleSize).map { byte(r, $0) } }
            try writeBytes(file, "data", dims: [rows] + shape, data)
            let label = (0..<rows).map { Float($0) }
            try label.withUnsafeBufferPointer { try file.writeFloat("label", dims: [rows], values: $0) }
        }
        try "u8.h5\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        return dir + "/list.txt"
    }

    /// Writes a uint8 dataset (a 1-byte unsigned copy of the native int type: no shim needed).
    static func writeBytes(_ file: HDF5File, _ name: String, dims: [Int], _ values: [UInt8]) throws {
        let type = H5Tcopy(ch5_t_native_int())
        defer { H5Tclose(type) }
        H5Tset_size(type, 1)
        H5Tset_sign(type, H5T_SGN_NONE)
        var hdims = dims.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &hdims, nil)
        defer { H5Sclose(space) }
        let ds = H5Dcreate2(file.id, name, type, space, ch5_p_default(), ch5_p_default(), ch5_p_default())
        try require(ds >= 0, "cannot create \(name)")
        defer { H5Dclose(ds) }
        let status = values.withUnsafeBufferPointer { H5Dwrite(ds, type, ch5_s_all(), ch5_s_all(), ch5_p_default(), $0.baseAddress) }
        try require(status >= 0, "cannot write \(name)")
    }

    static func transformParam() throws -> Caffe_TransformationParameter {
        try Prototxt.parse("transform_param { crop_size: 3 mirror: true mean_value: 10 mean_value: 20 mean_value: 30 scale: 0.5 }",
                           as: Caffe_LayerParameter.self, path: "<test>").transformParam
    }

    /// `batches` batches of `batchSize`: (data floats, labels) served in order.
    static func serve(_ s: BatchSource, batchSize: Int, batches: Int) throws -> (data: [Float], labels: [Int]) {
        let per = s.sampleShapes[0].reduce(1, *)
        var all: [Float] = [], labels: [Int] = []
        for _ in 0..<batches {
            var d = [Float](repeating: .nan, count: batchSize * per), l = [Float](repeating: .nan, count: batchSize)
            try d.withUnsafeMutableBufferPointer { dp in
                try l.withUnsafeMutableBufferPointer { lp in
                    try s.nextBatch(into: [dp.baseAddress!, lp.baseAddress!], batchSize: batchSize)
                }
            }
            all += d
            labels += l.map { Int($0) }
        }
        return (all, labels)
    }

    @Test func uint8IsKeptAsBytesAndServedAsFloatsUnchanged() throws {
        let list = try Self.writeFixture()
        let layout = try HDF5Layout(listPath: list, tops: ["data", "label"])
        #expect(layout.elements == [.byte, .float])
        #expect(layout.bytesPerRow == Self.sampleSize + 4)  // 75 bytes + a float label

        let s = try HDF5BatchSource(listPath: list, tops: ["data", "label"], shuffle: false, seed: 1, rank: 0, size: 1)
        #expect(!s.appliesTransform)
        #expect(s.sampleShapes == [Self.shape, []])
        let (data, labels) = try Self.serve(s, batchSize: 4, batches: 3)
        #expect(labels == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        for (i, r) in labels.enumerated() {
            let expected = (0..<Self.sampleSize).map { Float(Self.byte(r, $0)) }
            #expect(Array(data[i * Self.sampleSize ..< (i + 1) * Self.sampleSize]) == expected)
        }
    }

    @Test func eachServedSampleIsTheTransformOfItsRowWithItsKey() throws {
        let list = try Self.writeFixture()
        let param = try Self.transformParam()
        let s = try HDF5BatchSource(listPath: list, tops: ["data", "label"], shuffle: true, seed: 9,
                                    transform: param, phase: .train, label: "layer 'd'", rank: 0, size: 1)
        #expect(s.appliesTransform)
        #expect(s.sampleShapes == [[3, 3, 3], []])
        let reference = try DataTransformer(param: param, phase: .train, inputShape: Self.shape, label: "t")
        let (data, labels) = try Self.serve(s, batchSize: 4, batches: 4)  // 16 samples: into epoch 2
        #expect(Set(labels.prefix(10)) == Set(0..<10))
        var mirrored = 0
        for (p, r) in labels.enumerated() {
            let row = (0..<Self.sampleSize).map { Self.byte(r, $0) }
            var expected = [Float](repeating: 0, count: 27)
            row.withUnsafeBufferPointer {
                reference.transform($0.baseAddress!, into: &expected,
                                    sampleKey: SampleWriter.sampleKey(seed: 9, rank: 0, position: p))
            }
            let got = Array(data[p * 27 ..< (p + 1) * 27])
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "sample \(p) (row \(r))")
            if reference.draws(sampleKey: SampleWriter.sampleKey(seed: 9, rank: 0, position: p)).mirror { mirrored += 1 }
        }
        #expect(mirrored > 0 && mirrored < labels.count)  // the fixture exercises both
    }

    @Test func positionResetAndPrefetchKeepTheBits() throws {
        let list = try Self.writeFixture()
        let param = try Self.transformParam()
        func source() throws -> HDF5BatchSource {
            try HDF5BatchSource(listPath: list, tops: ["data", "label"], shuffle: true, seed: 3,
                                transform: param, phase: .train, label: "layer 'd'", rank: 0, size: 1)
        }
        let a = try source()
        let first = try Self.serve(a, batchSize: 4, batches: 5)  // each batch prefetched
        a.position = 0
        let again = try Self.serve(a, batchSize: 4, batches: 5)
        #expect(again.data.map(\.bitPattern) == first.data.map(\.bitPattern) && again.labels == first.labels)

        // Another source read one sample at a time, repositioned before each (drops every
        // prefetch, so each sample is gathered on the caller's thread).
        let b = try source()
        var data: [Float] = [], labels: [Int] = []
        for p in 0..<20 {
            b.position = p
            let one = try Self.serve(b, batchSize: 1, batches: 1)
            data += one.data
            labels += one.labels
        }
        #expect(data.map(\.bitPattern) == first.data.map(\.bitPattern) && labels == first.labels)

        // Resume in the middle: the tail of the stream is the same.
        let c = try source()
        c.position = 8
        let tail = try Self.serve(c, batchSize: 4, batches: 3)
        #expect(tail.data.map(\.bitPattern) == Array(first.data[(8 * 27)...]).map(\.bitPattern))
    }

    @Test func testPhaseCentreCropsWithoutMirror() throws {
        let list = try Self.writeFixture()
        let s = try HDF5BatchSource(listPath: list, tops: ["data", "label"], shuffle: false, seed: 3,
                                    transform: try Self.transformParam(), phase: .test, label: "layer 'd'", rank: 0, size: 1)
        let (data, labels) = try Self.serve(s, batchSize: 2, batches: 1)
        for (i, r) in labels.enumerated() {
            // Centre crop 3 of 5 at (1, 1); channel c's mean is 10(c + 1); scale 0.5.
            var expected: [Float] = []
            for c in 0..<3 { for h in 1...3 { for w in 1...3 {
                expected.append((Float(Self.byte(r, (c * 5 + h) * 5 + w)) - Float(10 * (c + 1))) * 0.5)
            } } }
            #expect(Array(data[i * 27 ..< (i + 1) * 27]) == expected)
        }
    }

    @Test func providerAppliesTransformParamAndNamesTheLayerOnce() throws {
        let list = try Self.writeFixture()
        var layer = Caffe_LayerParameter()
        layer.name = "data"
        layer.type = "HDF5Data"
        layer.hdf5DataParam.source = list
        layer.hdf5DataParam.batchSize = 2
        layer.top = ["data", "label"]
        layer.transformParam = try Self.transformParam()
        let provider = HDF5BatchSource.provider(seed: 1, rank: 0, size: 1)
        let s = try provider(layer, .train)
        #expect(s.appliesTransform && s.sampleShapes[0] == [3, 3, 3])

        layer.transformParam.cropSize = 9
        do {
            _ = try provider(layer, .train)
            Issue.record("expected an error")
        } catch let e as SparkNetError {
            #expect(e.message == "layer 'data' (HDF5Data): transform_param.crop_size 9 > image 5×5", "\(e.message)")
        }
    }
}
