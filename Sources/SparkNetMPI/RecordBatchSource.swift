import CaffeProto
import Foundation
import SparkNet

/// One decoded record: one sample's pixels ([C, H, W], as bytes or floats) and its label.
struct DecodedRecord {
    var shape: [Int]
    var bytes: [UInt8] = []
    var floats: [Float] = []
    var label: Float
    /// The record's name in errors (an LMDB key, a list line and path).
    var name: String
}

/// A store of records read by index (an LMDB, a list of image files). `read` is called on one
/// prefetch queue only, in increasing index order within an epoch but for wrap-arounds.
protocol RecordReader: AnyObject {
    var count: Int { get }
    /// "LMDB 'path'", "image list 'path'": the store in errors.
    var what: String { get }
    func read(_ index: Int) throws -> DecodedRecord
}

/// A `BatchSource` over a `RecordReader`, for Caffe's Data and ImageData layers: decodes and
/// transforms (`transform_param`, the first top) on a background queue while the net computes.
///
/// Sharding is Caffe's multi-GPU `DataReader`: one stream of records in store order, wrapping at
/// the end, dealt round-robin, so rank r serves stream items r, r+K, r+2K, …. Round-robin, not
/// contiguous ranges, because a store read in order (an LMDB by key, a list by line) may be
/// sorted by class: round-robin gives every rank the same mix and needs no index by position,
/// which LMDB lacks. `rand_skip` starts the stream a seeded number in [0, rand_skip) of records
/// in, as Caffe does; `shuffle` (ImageData) visits each pass of the stream in a permutation
/// seeded by (seed, pass), the same on every rank. The sample at position p is stream item
/// skip + r + p·K, and its random crop and mirror depend only on (seed, rank, p), so setting
/// `position` resumes exactly, at any thread count.
final class RecordBatchSource: BatchSource, @unchecked Sendable {
    let topNames: [String]
    let sampleShapes: [[Int]]
    /// Stream items this rank serves per pass of the store: ⌈(N − r) / K⌉.
    let sampleCount: Int
    var appliesTransform: Bool { true }

    private let reader: RecordReader
    private let label: String
    private let rank: Int
    private let size: Int
    private let skip: Int
    private let shuffle: Bool
    private let seed: UInt64
    private let inputShape: [Int]
    private let firstName: String
    private let transformer: DataTransformer?

    // Touched only by the prefetch job or by the caller while no job is in flight.
    private var permutationPass = -1
    private var permutation: [Int] = []

    private var currentPosition = 0
    private lazy var prefetcher = BatchPrefetcher(label: "sparknet.records.prefetch",
                                                  sampleSizes: sampleShapes.map { $0.reduce(1, *) })
    var waitSeconds: Double { prefetcher.waitSeconds }

    /// `layer` gives the tops (data, and label if a second top is named) and transform_param.
    init(reader: RecordReader, layer: Caffe_LayerParameter, phase: Caffe_Phase, seed: UInt64,
         randSkip: Int, shuffle: Bool, rank: Int, size: Int) throws {
        self.reader = reader
        label = "layer '\(layer.name)' (\(layer.type))"
        self.rank = rank
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        topNames = Array(layer.top.prefix(2))
        try require(!topNames.isEmpty, "\(label): no tops")
        let n = reader.count
        try require(n > 0, "\(label): \(reader.what) holds no records")
        try require(n >= size, "\(label): \(reader.what) holds \(n) records, fewer than the \(size) ranks (rank \(n) would get none)")
        sampleCount = (n - rank + size - 1) / size
        skip = randSkip > 0 ? Int(SampleWriter.mix(seed ^ 0x5EED_0F5C_1A55_D00D) % UInt64(randSkip)) : 0

        // The first record fixes the shape, as Caffe's data layers infer it from one record.
        let first = try reader.read(0)
        inputShape = first.shape
        firstName = first.name
        let dataShape: [Int]
        if layer.hasTransformParam {
            let tr = try DataTransformer(param: layer.transformParam, phase: phase, inputShape: inputShape,
                                         label: "layer '\(layer.name)'")
            transformer = tr
            dataShape = tr.outputShape
        } else {
            transformer = nil
            dataShape = inputShape
        }
        sampleShapes = Array([dataShape, []].prefix(topNames.count))
    }

    deinit {
        prefetcher.wait()  // the job in flight reads the records
    }

    var position: Int {
        get { currentPosition }
        set {
            prefetcher.reset()
            currentPosition = newValue
        }
    }

    func nextBatch(into tops: [UnsafeMutablePointer<Float>], batchSize: Int) throws {
        try require(tops.count == topNames.count, "\(label): \(tops.count) outputs given, expected \(topNames.count)")
        try require(batchSize > 0, "\(label): batch_size must be positive")
        try prefetcher.serve(position: currentPosition, batchSize: batchSize, into: tops) { [self] position, count, out in
            try fill(position: position, batchSize: count, into: out)
        }
        currentPosition += batchSize
    }

    /// The record index of stream item `item`.
    private func recordIndex(_ item: Int) -> Int {
        let n = reader.count
        guard shuffle else { return item % n }
        let pass = item / n
        if pass != permutationPass {
            // The same on every rank: each pass is one permutation of the whole store, dealt round-robin.
            permutation = HDF5BatchSource.permutation(count: n, seed: seed, rank: 0, epoch: pass)
            permutationPass = pass
        }
        return permutation[item % n]
    }

    /// Decodes and transforms samples `position ..< position + batchSize` into `out`.
    private func fill(position: Int, batchSize: Int, into out: [UnsafeMutablePointer<Float>]) throws {
        let per = sampleShapes[0].reduce(1, *)
        for i in 0..<batchSize {
            let p = position + i
            let r = try reader.read(recordIndex(skip + rank + p * size))
            guard r.shape == inputShape else {
                let s = r.shape.map(String.init).joined(separator: "×"), f = inputShape.map(String.init).joined(separator: "×")
                throw SparkNetError("\(label): \(reader.what) record \(r.name) is \(s), but the first record (\(firstName)) is \(f); every record must have the first one's size")
            }
            let dst = out[0] + i * per
            if let transformer {
                let key = SampleWriter.sampleKey(seed: seed, rank: rank, position: p)
                if r.floats.isEmpty {
                    r.bytes.withUnsafeBufferPointer { transformer.transform($0.baseAddress!, into: dst, sampleKey: key) }
                } else {
                    r.floats.withUnsafeBufferPointer { transformer.transform($0.baseAddress!, into: dst, sampleKey: key) }
                }
            } else if r.floats.isEmpty {
                for j in 0..<per { dst[j] = Float(r.bytes[j]) }
            } else {
                r.floats.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: per) }
            }
            if topNames.count > 1 { out[1][i] = r.label }
        }
    }
}
