import CaffeProto
import Dispatch
import Foundation
import SparkNet

/// A `BatchSource` over data in Caffe's HDF5Data layout: a list file naming .h5 files, each
/// holding one dataset per top (`data` N×C×H×W, `label` N), float or integer.
///
/// Every rank opens each listed file collectively (MPI-IO) and reads its own rows
/// [⌊rN/K⌋, ⌊(r+1)N/K⌋) with one collective read per dataset, at open. The rows of all files
/// are kept in memory in list order (uint8 datasets as bytes, others as floats), so serving a
/// batch is a gather of rows; the next batch is gathered on a background queue while the net
/// computes (`waitSeconds` is the time the caller still had to wait).
///
/// With the layer's `transform_param`, the first top is transformed as Caffe's DataTransformer
/// does (crop, mirror, mean, scale) while it is gathered; the random draws of the sample served
/// at position p depend only on (seed, rank, p). Without it, uint8 values are served as floats
/// unchanged (0…255, as Caffe).
///
/// Order: without shuffle, rows in list order, wrapping around. With `shuffle: true`, epoch e is
/// a permutation of this rank's rows seeded by (seed, rank, e). Caffe shuffles the file order and
/// rows within files; permuting all rows at once is the same distribution when the data fit in
/// memory. Every sample served is a pure function of `position`, so setting `position` restores
/// the exact state (resume).
public final class HDF5BatchSource: BatchSource, @unchecked Sendable {
    public let topNames: [String]
    /// Served sample shapes: the first top's is the transformer's output shape.
    public let sampleShapes: [[Int]]
    public let sampleCount: Int
    /// The .h5 files read, resolved, in list order.
    public let files: [String]
    /// Rows over all files and ranks.
    public let totalSampleCount: Int
    public var appliesTransform: Bool { writer.transformer != nil }

    /// storage[t]: this rank's rows of top t.
    private let storage: [RowBuffer]
    private let writer: SampleWriter
    private let shuffle: Bool
    private let seed: UInt64
    private let rank: Int

    // Touched only by the prefetch job or by the caller while no job is in flight.
    private var permutationEpoch = -1
    private var permutation: [Int] = []

    private var currentPosition = 0
    private lazy var prefetcher = BatchPrefetcher(label: "sparknet.hdf5.prefetch", sampleSizes: writer.servedSizes)
    public var waitSeconds: Double { prefetcher.waitSeconds }

    /// Reads this rank's rows of every file listed in `listPath`, for datasets `tops`, and
    /// applies `transform` (the layer's transform_param, for `phase`) to the first top.
    /// Collective: every rank of MPI_COMM_WORLD must call it with the same list and tops.
    /// `label` names the layer in transform_param errors.
    public convenience init(listPath: String, tops: [String], shuffle: Bool, seed: UInt64,
                            transform: Caffe_TransformationParameter? = nil, phase: Caffe_Phase = .train,
                            label: String = "HDF5 source", rank: Int = MPIEnvironment.rank,
                            size: Int = MPIEnvironment.size) throws {
        let layout = try HDF5Layout(listPath: listPath, tops: tops)
        try self.init(layout: layout, tops: tops, shuffle: shuffle, seed: seed, transform: transform,
                      phase: phase, label: label, rank: rank, size: size)
    }

    /// The same over files already opened (the provider opens them to choose a source).
    init(layout: HDF5Layout, tops: [String], shuffle: Bool, seed: UInt64,
         transform: Caffe_TransformationParameter?, phase: Caffe_Phase, label: String,
         rank: Int, size: Int) throws {
        files = layout.files
        topNames = tops
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        totalSampleCount = layout.totalRows
        sampleCount = layout.rows(rank: rank, size: size)
        // Every dataset fits in memory (datasetInfo), but all of them together may not.
        let bytes = sampleCount.multipliedReportingOverflow(by: layout.bytesPerRow)
        let memory = ProcessInfo.processInfo.physicalMemory
        try require(!bytes.overflow && UInt64(bytes.partialValue) <= memory,
                    "HDF5 source '\(layout.listPath)': this rank's \(sampleCount) rows of '\(tops.joined(separator: "' + '"))' need \(bytes.partialValue >> 20) MiB, more than this machine's \(memory >> 20) MiB of memory")

        // The transformer reads the mean file, which may fail on one rank only: its error is
        // thrown after the collective reads, so no rank is left waiting in one.
        let madeWriter = Result {
            try SampleWriter(transform: transform, phase: phase, label: label,
                             storedShapes: layout.sampleShapes, seed: seed, rank: rank)
        }
        // Collective reads of this rank's rows, straight into storage.
        let rowCount = sampleCount
        let storage = zip(layout.sampleSizes, layout.elements).map { RowBuffer(rows: rowCount, rowSize: $0, element: $1) }
        do {
            var offset = 0
            for (f, file) in layout.opened.enumerated() {
                let rows = MPIEnvironment.shardRange(n: layout.fileRows[f], rank: rank, size: size)
                for (t, name) in tops.enumerated() {
                    try file.readRowsCollective(name, dims: [layout.fileRows[f]] + layout.sampleShapes[t], rows: rows,
                                                element: storage[t].element, into: storage[t].row(offset))
                }
                offset += rows.count
            }
            try layout.checkEveryRankHasRows(size: size)
            writer = try madeWriter.get()
        } catch {
            storage.forEach { $0.deallocate() }
            throw error
        }
        self.storage = storage
        sampleShapes = writer.servedShapes(layout.sampleShapes)
    }

    deinit {
        prefetcher.wait()  // the job in flight reads storage
        storage.forEach { $0.deallocate() }
    }

    /// The .h5 paths in a Caffe source list: one per line, blank lines skipped. A relative path
    /// is taken as written (relative to the current directory, as Caffe does), else relative to
    /// the list file's directory.
    public static func readList(_ listPath: String) throws -> [String] {
        let fm = FileManager.default
        guard fm.fileExists(atPath: listPath) else {
            throw SparkNetError("HDF5 source list '\(listPath)' not found (hdf5_data_param.source is relative to the current directory \(fm.currentDirectoryPath))")
        }
        guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else {
            throw SparkNetError("cannot read HDF5 source list '\(listPath)'")
        }
        let dir = (listPath as NSString).deletingLastPathComponent
        var files: [String] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let entry = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if entry.isEmpty { continue }
            if fm.fileExists(atPath: entry) {
                files.append(entry)
            } else if !entry.hasPrefix("/"), !dir.isEmpty,
                      fm.fileExists(atPath: (dir as NSString).appendingPathComponent(entry)) {
                files.append((dir as NSString).appendingPathComponent(entry))
            } else {
                throw SparkNetError("HDF5 file '\(entry)' listed in '\(listPath)' line \(i + 1) not found")
            }
        }
        try require(!files.isEmpty, "HDF5 source list '\(listPath)' names no files")
        return files
    }

    /// A `NetContext.sourceProvider` serving HDF5Data layers: shards across `size` ranks, seeds
    /// shuffling and random transforms with `seed` (the solver's random_seed), and applies the
    /// layer's transform_param. A shard larger than the data memory budget (`HDF5DataMemory`) on
    /// any rank makes every rank stream (`HDF5StreamingSource`); otherwise shards are read whole.
    public static func provider(seed: UInt64, rank: Int = MPIEnvironment.rank,
                                size: Int = MPIEnvironment.size)
        -> (Caffe_LayerParameter, Caffe_Phase) throws -> BatchSource {
        return { layer, phase in
            let p = layer.hdf5DataParam
            let label = "layer '\(layer.name)' (\(layer.type))"
            let transform = layer.hasTransformParam ? layer.transformParam : nil
            do {
                try require(layer.type == "HDF5Data", "no data source for layer type \(layer.type)")
                try require(p.hasSource && !p.source.isEmpty, "hdf5_data_param.source is not set")
                let layout = try HDF5Layout(listPath: p.source, tops: layer.top)
                // Every rank takes the same path (their reads are collective): the smallest
                // budget against the largest shard.
                var budget = HDF5DataMemory.budgetBytes
                if size > 1 && size == MPIEnvironment.size { budget = Communicator.world.allreduce(budget, .min) }
                let largest = (0..<size).map { layout.rows(rank: $0, size: size) }.max() ?? 0
                if largest.multipliedReportingOverflow(by: layout.bytesPerRow).partialValue > budget ||
                    largest.multipliedReportingOverflow(by: layout.bytesPerRow).overflow {
                    if size > 1, let why = HDF5DataMemory.streamingUnavailable {
                        throw SparkNetError("the shard of '\(p.source)' (\((largest * layout.bytesPerRow) >> 20) MiB on the largest rank) exceeds the data memory budget of \(budget >> 20) MiB, and streaming is not possible: \(why); raise --data-memory-mb")
                    }
                    return try HDF5StreamingSource(layout: layout, tops: layer.top, shuffle: p.shuffle, seed: seed,
                                                   batchSize: Int(p.batchSize), budgetBytes: budget,
                                                   transform: transform, phase: phase, label: label, rank: rank, size: size)
                }
                return try HDF5BatchSource(layout: layout, tops: layer.top, shuffle: p.shuffle, seed: seed,
                                           transform: transform, phase: phase, label: label, rank: rank, size: size)
            } catch let e as SparkNetError where !e.message.hasPrefix("layer '") {
                throw SparkNetError("\(label): \(e.message)")
            }
        }
    }

    // MARK: serving batches

    public var position: Int {
        get { currentPosition }
        set {
            prefetcher.reset()
            currentPosition = newValue
        }
    }

    public func nextBatch(into tops: [UnsafeMutablePointer<Float>], batchSize: Int) throws {
        try require(tops.count == topNames.count,
                    "HDF5 source: \(tops.count) outputs given, expected \(topNames.count) (\(topNames.joined(separator: ", ")))")
        try require(batchSize > 0, "HDF5 source: batch_size must be positive")
        try prefetcher.serve(position: currentPosition, batchSize: batchSize, into: tops) { [self] position, count, out in
            gather(from: position, count: count, into: out)
        }
        currentPosition += batchSize
    }

    /// Writes samples `position ..< position + count` (wrapping around) into `out`.
    private func gather(from position: Int, count: Int, into out: [UnsafeMutablePointer<Float>]) {
        for i in 0..<count {
            writer.write(storage, row: rowAt(position + i), into: out, at: i, position: position + i)
        }
    }

    /// The row served at `position`.
    private func rowAt(_ position: Int) -> Int {
        let index = position % sampleCount
        guard shuffle else { return index }
        let epoch = position / sampleCount
        if epoch != permutationEpoch {
            permutation = Self.permutation(count: sampleCount, seed: seed, rank: rank, epoch: epoch)
            permutationEpoch = epoch
        }
        return permutation[index]
    }

    /// Epoch `epoch`'s order of `count` rows on `rank`: Fisher–Yates from a generator seeded by
    /// (seed, rank, epoch), so it depends on nothing else.
    public static func permutation(count: Int, seed: UInt64, rank: Int, epoch: Int) -> [Int] {
        var h = seed
        h = SampleWriter.mix(h ^ SampleWriter.mix(UInt64(truncatingIfNeeded: rank) &+ 0x51_7CC1_B727_220A))
        h = SampleWriter.mix(h ^ SampleWriter.mix(UInt64(truncatingIfNeeded: epoch) &+ 0x2545_F491_4F6C_DD1D))
        var rng = RandomGenerator(seed: h)
        var p = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                p.swapAt(i, rng.index(below: i + 1))
            }
        }
        return p
    }
}
