/// Feeds a data layer from outside the engine (SparkNet's "RDD data layer"). The engine never
/// reads files itself; HDF5 sources live in SparkNetMPI and tests use `ArraySource`.
public protocol BatchSource: AnyObject {
    /// The names of the tops this source fills, in order (for example `["data", "label"]`).
    var topNames: [String] { get }
    /// The shape of one sample of each top, without the batch axis (`[]` for a scalar label).
    var sampleShapes: [[Int]] { get }
    /// How many samples this source holds (on this rank).
    var sampleCount: Int { get }
    /// Samples consumed so far; setting it repositions the source (exact resume).
    var position: Int { get set }
    /// Writes the next `batchSize` samples of each top into `tops[i]` and advances, wrapping
    /// around at the end of an epoch. `tops[i]` holds `batchSize × sampleShapes[i]` floats.
    func nextBatch(into tops: [UnsafeMutablePointer<Float>], batchSize: Int) throws
    /// Seconds spent waiting for data that was not ready (prefetching sources report it).
    var waitSeconds: Double { get }
    /// Whether the source applies the layer's `transform_param` itself (a data layer refuses
    /// transform_param when its source does not).
    var appliesTransform: Bool { get }
}

extension BatchSource {
    public var waitSeconds: Double { 0 }
    public var appliesTransform: Bool { false }
}

/// An in-memory source: each top is a flat array of `sampleCount × sampleShape` floats.
/// Samples are served in order, wrapping around.
public final class ArraySource: BatchSource {
    public let topNames: [String]
    public let sampleShapes: [[Int]]
    public let sampleCount: Int
    public var position = 0
    private let tops: [[Float]]

    /// - Parameter tops: name, per-sample shape, values (sample-major) for each top.
    public init(_ tops: [(name: String, sampleShape: [Int], values: [Float])]) throws {
        try require(!tops.isEmpty, "ArraySource: no tops given")
        topNames = tops.map(\.name)
        sampleShapes = tops.map(\.sampleShape)
        let per = tops[0].sampleShape.reduce(1, *)
        sampleCount = per == 0 ? 0 : tops[0].values.count / per
        for t in tops {
            try require(t.values.count == sampleCount * t.sampleShape.reduce(1, *),
                        "ArraySource: top '\(t.name)' has \(t.values.count) values, expected \(sampleCount) samples of shape \(t.sampleShape)")
        }
        self.tops = tops.map(\.values)
    }

    public func nextBatch(into out: [UnsafeMutablePointer<Float>], batchSize: Int) throws {
        try require(sampleCount > 0, "ArraySource: no samples")
        for i in 0..<batchSize {
            let s = (position + i) % sampleCount
            for (t, values) in tops.enumerated() {
                let per = sampleShapes[t].reduce(1, *)
                values.withUnsafeBufferPointer { src in
                    (out[t] + i * per).update(from: src.baseAddress! + s * per, count: per)
                }
            }
        }
        position += batchSize
    }
}
