import CaffeProto
import Dispatch
import Foundation
import SparkNet

/// A `BatchSource` over data in Caffe's HDF5Data layout: a list file naming .h5 files, each
/// holding one dataset per top (`data` N×C×H×W, `label` N), float or integer.
///
/// Every rank opens each listed file collectively (MPI-IO) and reads its own rows
/// [⌊rN/K⌋, ⌊(r+1)N/K⌋) with one collective read per dataset, at open. The rows of all files
/// are kept in memory in list order, so serving a batch is a gather of rows; the next batch is
/// gathered on a background queue while the net computes (`waitSeconds` is the time the caller
/// still had to wait).
///
/// Order: without shuffle, rows in list order, wrapping around. With `shuffle: true`, epoch e is
/// a permutation of this rank's rows seeded by (seed, rank, e). Caffe shuffles the file order and
/// rows within files; permuting all rows at once is the same distribution when the data fit in
/// memory. Every sample served is a pure function of `position`, so setting `position` restores
/// the exact state (resume).
public final class HDF5BatchSource: BatchSource, @unchecked Sendable {
    public let topNames: [String]
    public let sampleShapes: [[Int]]
    public let sampleCount: Int
    /// The .h5 files read, resolved, in list order.
    public let files: [String]
    /// Rows over all files and ranks.
    public let totalSampleCount: Int

    private let sampleSizes: [Int]
    /// storage[t]: this rank's rows of top t, `sampleCount × sampleSizes[t]` floats.
    private let storage: [UnsafeMutablePointer<Float>]
    private let shuffle: Bool
    private let seed: UInt64
    private let rank: Int

    // Touched only by the prefetch job or by the caller while no job is in flight.
    private var permutationEpoch = -1
    private var permutation: [Int] = []
    private var staging: [UnsafeMutablePointer<Float>] = []
    private var stagingBatch = 0
    private var staged: (position: Int, batchSize: Int)?

    private var currentPosition = 0
    private let queue = DispatchQueue(label: "sparknet.hdf5.prefetch")
    private let pending = DispatchGroup()
    private var inFlight = false
    public private(set) var waitSeconds: Double = 0

    /// Reads this rank's rows of every file listed in `listPath`, for datasets `tops`.
    /// Collective: every rank of MPI_COMM_WORLD must call it with the same list and tops.
    public init(listPath: String, tops: [String], shuffle: Bool, seed: UInt64,
                rank: Int = MPIEnvironment.rank, size: Int = MPIEnvironment.size) throws {
        try require(!tops.isEmpty, "HDF5 source '\(listPath)': the layer has no tops to read")
        let files = try Self.readList(listPath)
        self.files = files
        self.topNames = tops
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank

        // Pass 1: open every file and check its datasets agree with each other and the first file.
        var opened: [HDF5File] = []
        var fileRows: [Int] = []
        var shapes: [[Int]]? = nil
        for path in files {
            let file = try HDF5File.openCollective(path)
            opened.append(file)
            var n: Int? = nil
            var fileShapes: [[Int]] = []
            for name in tops {
                let info = try file.datasetInfo(name)
                try require(info.dims.count >= 1,
                            "HDF5 file '\(path)': dataset '\(name)' is a scalar, expected at least 1 axis (N × …)")
                if let n, info.dims[0] != n {
                    throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' has \(info.dims[0]) rows but '\(tops[0])' has \(n); every dataset must have the same N")
                }
                n = info.dims[0]
                fileShapes.append(Array(info.dims.dropFirst()))
            }
            if let shapes {
                for (t, name) in tops.enumerated() where shapes[t] != fileShapes[t] {
                    throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' has samples of shape \(fileShapes[t]), but '\(files[0])' has \(shapes[t]); every file must agree")
                }
            } else {
                shapes = fileShapes
            }
            fileRows.append(n ?? 0)
        }
        let sampleShapes = shapes ?? []
        self.sampleShapes = sampleShapes
        sampleSizes = sampleShapes.map { $0.reduce(1, *) }  // each checked by datasetInfo
        totalSampleCount = fileRows.reduce(0, +)

        // Every rank must own at least one row; all ranks reach the same verdict from the same N's.
        let rowsOf = { (r: Int) in fileRows.reduce(0) { $0 + MPIEnvironment.shardRange(n: $1, rank: r, size: size).count } }
        let emptyRanks = (0..<size).filter { rowsOf($0) == 0 }
        sampleCount = rowsOf(rank)
        // Every dataset fits in memory (datasetInfo), but all of them together may not.
        _ = try opened[0].floatCount([sampleCount, sampleSizes.reduce(0, +)], of: tops.joined(separator: "' + '"))

        // Pass 2: collective reads of this rank's rows, straight into storage.
        storage = sampleSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, rowsOf(rank) * $0)) }
        var offset = 0
        for (f, file) in opened.enumerated() {
            let rows = MPIEnvironment.shardRange(n: fileRows[f], rank: rank, size: size)
            for (t, name) in tops.enumerated() {
                try file.readRowsCollective(name, dims: [fileRows[f]] + sampleShapes[t], rows: rows,
                                            into: storage[t] + offset * sampleSizes[t])
            }
            offset += rows.count
        }
        if !emptyRanks.isEmpty {
            throw SparkNetError("HDF5 source '\(listPath)': \(totalSampleCount) rows cannot be split over \(size) ranks (rank \(emptyRanks[0]) would get none)")
        }
    }

    deinit {
        if inFlight { pending.wait() }
        storage.forEach { $0.deallocate() }
        staging.forEach { $0.deallocate() }
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

    /// A `NetContext.sourceProvider` serving HDF5Data layers: shards across `size` ranks and seeds
    /// shuffling with `seed` (the solver's random_seed).
    public static func provider(seed: UInt64, rank: Int = MPIEnvironment.rank,
                                size: Int = MPIEnvironment.size)
        -> (Caffe_LayerParameter, Caffe_Phase) throws -> BatchSource {
        return { layer, _ in
            let p = layer.hdf5DataParam
            do {
                try require(layer.type == "HDF5Data", "no data source for layer type \(layer.type)")
                try require(p.hasSource && !p.source.isEmpty, "hdf5_data_param.source is not set")
                return try HDF5BatchSource(listPath: p.source, tops: layer.top, shuffle: p.shuffle,
                                           seed: seed, rank: rank, size: size)
            } catch let e as SparkNetError {
                throw SparkNetError("layer '\(layer.name)' (\(layer.type)): \(e.message)")
            }
        }
    }

    // MARK: serving batches

    public var position: Int {
        get { currentPosition }
        set {
            drain()
            currentPosition = newValue
            staged = nil
        }
    }

    public func nextBatch(into tops: [UnsafeMutablePointer<Float>], batchSize: Int) throws {
        try require(tops.count == topNames.count,
                    "HDF5 source: \(tops.count) outputs given, expected \(topNames.count) (\(topNames.joined(separator: ", ")))")
        try require(batchSize > 0, "HDF5 source: batch_size must be positive")
        let start = DispatchTime.now()
        drain()
        if let s = staged, s.position == currentPosition, s.batchSize == batchSize {
            for t in 0..<tops.count {
                tops[t].update(from: staging[t], count: batchSize * sampleSizes[t])
            }
        } else {
            gather(from: currentPosition, count: batchSize, into: tops)
        }
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) * 1e-9
        currentPosition += batchSize
        prefetch(position: currentPosition, batchSize: batchSize)
    }

    /// Waits for the in-flight prefetch, if any.
    private func drain() {
        if inFlight {
            pending.wait()
            inFlight = false
        }
    }

    private func prefetch(position: Int, batchSize: Int) {
        if stagingBatch < batchSize {
            staging.forEach { $0.deallocate() }
            staging = sampleSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, batchSize * $0)) }
            stagingBatch = batchSize
        }
        staged = nil
        inFlight = true
        pending.enter()
        queue.async { [self] in
            gather(from: position, count: batchSize, into: staging)
            staged = (position, batchSize)
            pending.leave()
        }
    }

    /// Copies samples `position ..< position + count` (wrapping around) into `out`.
    private func gather(from position: Int, count: Int, into out: [UnsafeMutablePointer<Float>]) {
        for i in 0..<count {
            let row = rowAt(position + i)
            for t in 0..<out.count {
                let n = sampleSizes[t]
                (out[t] + i * n).update(from: storage[t] + row * n, count: n)
            }
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
        h = mix(h ^ mix(UInt64(truncatingIfNeeded: rank) &+ 0x51_7CC1_B727_220A))
        h = mix(h ^ mix(UInt64(truncatingIfNeeded: epoch) &+ 0x2545_F491_4F6C_DD1D))
        var rng = RandomGenerator(seed: h)
        var p = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                p.swapAt(i, rng.index(below: i + 1))
            }
        }
        return p
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
