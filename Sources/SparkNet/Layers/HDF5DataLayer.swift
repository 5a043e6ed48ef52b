import CaffeProto

/// Caffe's HDF5Data layer, and its Data and ImageData layers, fed from outside: the engine never opens files.
/// At set-up the layer asks `context.sourceProvider` for a `BatchSource` (SparkNetMPI reads the
/// HDF5 files listed in `hdf5_data_param.source`, the database `data_param.source`, or the image
/// files listed in `image_data_param.source`; tests use
/// `ArraySource`), and each forward copies the next `batch_size` samples into the tops, matched
/// to the source's datasets by top name. `transform_param` is allowed only when the source
/// applies it (`BatchSource.appliesTransform`): the engine never transforms data itself.
public final class HDF5DataLayer: Layer, DataLayer {
    override public var exactBottoms: Int? { 0 }
    override public var minTops: Int? { 1 }

    /// Where the batches come from (set at set-up, replaced by `setSource`).
    public private(set) var source: BatchSource?
    private var batchSize = 0
    /// For each source dataset, the top it fills (nil: a dataset no top asks for).
    private var topOfDataset: [Int?] = []
    /// Holds the datasets no top asks for (the source writes every dataset).
    private var unused: [Blob] = []
    /// Destination pointers in the source's order, refreshed in place (no allocation in forward).
    private var destinations: [UnsafeMutablePointer<Float>] = []
    private let placeholder = Blob()

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = config
        try require(p.batchSize > 0, "\(label): \(p.field).batch_size must be positive, got \(p.batchSize)")
        batchSize = Int(p.batchSize)
        guard let provider = context.sourceProvider else {
            throw SparkNetError("\(label): needs a data source for \(p.field).source '\(p.source)', but none was provided")
        }
        let s = try provider(param, phase)
        try checkTransform(s)
        try bind(s)
        // Tops get [batch_size] + sample shape.
        for (t, name) in param.top.enumerated() {
            guard let d = s.topNames.firstIndex(of: name) else { continue }
            try top[t].reshape([batchSize] + s.sampleShapes[d])
        }
    }

    /// The parameters of this layer's type: Data reads `data_param`, ImageData
    /// `image_data_param`, HDF5Data `hdf5_data_param`.
    private var config: (batchSize: UInt32, source: String, field: String) {
        switch param.type {
        case "Data": return (param.dataParam.batchSize, param.dataParam.source, "data_param")
        case "ImageData": return (param.imageDataParam.batchSize, param.imageDataParam.source, "image_data_param")
        default: return (param.hdf5DataParam.batchSize, param.hdf5DataParam.source, "hdf5_data_param")
        }
    }

    /// transform_param needs a source that applies it.
    private func checkTransform(_ s: BatchSource) throws {
        try require(!param.hasTransformParam || s.appliesTransform,
                    "\(type) does not transform data (\(label) has transform_param, which its data source does not apply)")
    }

    /// Checks that `s` provides every top and records where each dataset goes.
    private func bind(_ s: BatchSource) throws {
        try require(s.sampleShapes.count == s.topNames.count,
                    "\(label): the data source lists \(s.topNames.count) datasets but \(s.sampleShapes.count) sample shapes")
        for name in param.top where !s.topNames.contains(name) {
            throw SparkNetError("\(label): top '\(name)' has no dataset '\(name)' in \(config.field).source '\(config.source)' (datasets: \(s.topNames.joined(separator: ", ")))")
        }
        for (name, shape) in zip(s.topNames, s.sampleShapes) {
            try require(shape.allSatisfy { $0 >= 0 },
                        "\(label): dataset '\(name)' has sample shape \(shape), expected non-negative dimensions")
        }
        topOfDataset = s.topNames.map { name in param.top.firstIndex(of: name) }
        unused = []
        for (d, t) in topOfDataset.enumerated() where t == nil {
            unused.append(Blob(shape: [batchSize] + s.sampleShapes[d]))
        }
        // Placeholders; forward points each entry at its top before every read.
        destinations = Array(repeating: placeholder.data, count: s.topNames.count)
        source = s
    }

    /// Replaces the source; the new one must provide every top with the same sample shape.
    public func setSource(_ s: BatchSource) throws {
        guard let old = source else {
            throw SparkNetError("\(label): setSource before set-up")
        }
        try checkTransform(s)
        for name in param.top {
            guard let i = old.topNames.firstIndex(of: name) else { continue }
            guard let j = s.topNames.firstIndex(of: name) else {
                throw SparkNetError("\(label): the new data source has no dataset '\(name)' (datasets: \(s.topNames.joined(separator: ", ")))")
            }
            try require(j < s.sampleShapes.count && s.sampleShapes[j] == old.sampleShapes[i],
                        "\(label): the new data source's '\(name)' samples have shape \(j < s.sampleShapes.count ? s.sampleShapes[j] : []), expected \(old.sampleShapes[i])")
        }
        try bind(s)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        guard let s = source else { throw SparkNetError("\(label): no data source") }
        var u = 0
        for (d, t) in topOfDataset.enumerated() {
            if let t {
                destinations[d] = top[t].data
            } else {
                destinations[d] = unused[u].data
                u += 1
            }
        }
        try s.nextBatch(into: destinations, batchSize: batchSize)
    }
}
