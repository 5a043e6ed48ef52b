import CaffeProto
import Foundation
import SparkNet

/// The files of a Caffe HDF5 source list, opened collectively and checked to agree: every file
/// has every top's dataset, with the same N per file and the same sample shape in every file.
/// Shared by the in-memory (`HDF5BatchSource`) and streaming (`HDF5StreamingSource`) sources.
struct HDF5Layout {
    let listPath: String
    /// The .h5 files, resolved, in list order, and open.
    let files: [String]
    let opened: [HDF5File]
    /// Rows of each file.
    let fileRows: [Int]
    /// One stored sample of each top (without the batch axis).
    let sampleShapes: [[Int]]
    let sampleSizes: [Int]
    /// How each top is held in memory: bytes when every file stores it as uint8, else floats.
    let elements: [HDF5File.Element]

    /// Opens every file listed in `listPath` collectively (every rank must call it alike).
    init(listPath: String, tops: [String]) throws {
        try require(!tops.isEmpty, "HDF5 source '\(listPath)': the layer has no tops to read")
        self.listPath = listPath
        files = try HDF5BatchSource.readList(listPath)
        var opened: [HDF5File] = []
        var fileRows: [Int] = []
        var shapes: [[Int]]? = nil
        var bytes = Array(repeating: true, count: tops.count)
        for path in files {
            let file = try HDF5File.openCollective(path)
            opened.append(file)
            var n: Int? = nil
            var fileShapes: [[Int]] = []
            for (t, name) in tops.enumerated() {
                let info = try file.datasetInfo(name)
                try require(info.dims.count >= 1,
                            "HDF5 file '\(path)': dataset '\(name)' is a scalar, expected at least 1 axis (N × …)")
                if let n, info.dims[0] != n {
                    throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' has \(info.dims[0]) rows but '\(tops[0])' has \(n); every dataset must have the same N")
                }
                n = info.dims[0]
                // One sample becomes one row of a blob, which Caffe caps at INT_MAX values.
                let sample = info.dims.dropFirst().reduce(1, *)  // no overflow: datasetInfo
                try require(sample <= Int(Int32.max),
                            "HDF5 file '\(path)': dataset '\(name)' has samples of shape \(Array(info.dims.dropFirst())), \(sample) values each; a blob holds at most \(Int32.max)")
                fileShapes.append(Array(info.dims.dropFirst()))
                if try file.element(name) != .byte { bytes[t] = false }
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
        self.opened = opened
        self.fileRows = fileRows
        sampleShapes = shapes ?? []
        sampleSizes = sampleShapes.map { $0.reduce(1, *) }  // each checked above
        elements = bytes.map { $0 ? .byte : .float }
    }

    var totalRows: Int { fileRows.reduce(0, +) }

    /// Bytes one row of every top takes in memory.
    var bytesPerRow: Int { zip(sampleSizes, elements).reduce(0) { $0 + $1.0 * $1.1.size } }

    /// Rows `rank` of `size` holds: its contiguous range of each file.
    func rows(rank: Int, size: Int) -> Int {
        fileRows.reduce(0) { $0 + MPIEnvironment.shardRange(n: $1, rank: rank, size: size).count }
    }

    /// Throws unless every rank of `size` holds at least one row (all ranks reach the same verdict).
    func checkEveryRankHasRows(size: Int) throws {
        if let empty = (0..<size).first(where: { rows(rank: $0, size: size) == 0 }) {
            throw SparkNetError("HDF5 source '\(listPath)': \(totalRows) rows cannot be split over \(size) ranks (rank \(empty) would get none)")
        }
    }
}

/// Rows of one top in memory, as bytes or floats.
struct RowBuffer {
    let element: HDF5File.Element
    /// Elements per row.
    let rowSize: Int
    let base: UnsafeMutableRawPointer

    init(rows: Int, rowSize: Int, element: HDF5File.Element) {
        self.element = element
        self.rowSize = rowSize
        base = .allocate(byteCount: max(1, rows * rowSize * element.size), alignment: 16)
    }

    func deallocate() { base.deallocate() }

    /// The start of row `r`.
    func row(_ r: Int) -> UnsafeMutableRawPointer { base + r * rowSize * element.size }
}

/// Turns stored rows into served samples: the first top (`data`, as in Caffe) through the
/// layer's `DataTransformer` when it has transform_param; every other top, and the first one
/// without transform_param, as floats of the same values (uint8 is not rescaled, as in Caffe).
struct SampleWriter {
    let transformer: DataTransformer?
    /// Floats of one served sample of each top.
    let servedSizes: [Int]
    let seed: UInt64
    let rank: Int

    /// Builds the transformer for stored samples of top 0 of shape `shapes[0]`, if any.
    init(transform: Caffe_TransformationParameter?, phase: Caffe_Phase, label: String,
         storedShapes shapes: [[Int]], seed: UInt64, rank: Int) throws {
        if let transform, !shapes.isEmpty {
            let t = try DataTransformer(param: transform, phase: phase, inputShape: shapes[0], label: label)
            transformer = t
            servedSizes = [t.outputShape.reduce(1, *)] + shapes.dropFirst().map { $0.reduce(1, *) }
        } else {
            transformer = nil
            servedSizes = shapes.map { $0.reduce(1, *) }
        }
        self.seed = seed
        self.rank = rank
    }

    /// The served sample shapes, given the stored ones.
    func servedShapes(_ stored: [[Int]]) -> [[Int]] {
        guard let transformer, !stored.isEmpty else { return stored }
        return [transformer.outputShape] + stored.dropFirst()
    }

    /// Writes row `row` of `rows` as sample `i` of `out`, served at stream position `position`.
    func write(_ rows: [RowBuffer], row: Int, into out: [UnsafeMutablePointer<Float>], at i: Int, position: Int) {
        for (t, buffer) in rows.enumerated() {
            let dst = out[t] + i * servedSizes[t]
            let src = buffer.row(row)
            if t == 0, let transformer {
                let key = Self.sampleKey(seed: seed, rank: rank, position: position)
                switch buffer.element {
                case .byte: transformer.transform(src.assumingMemoryBound(to: UInt8.self), into: dst, sampleKey: key)
                case .float: transformer.transform(src.assumingMemoryBound(to: Float.self), into: dst, sampleKey: key)
                }
                continue
            }
            switch buffer.element {
            case .byte:
                let bytes = src.assumingMemoryBound(to: UInt8.self)
                for k in 0..<buffer.rowSize { dst[k] = Float(bytes[k]) }
            case .float:
                dst.update(from: src.assumingMemoryBound(to: Float.self), count: buffer.rowSize)
            }
        }
    }

    /// The key of the sample served at `position` on `rank`: its random crop and mirror depend
    /// only on (seed, rank, position), so thread counts, prefetching and resumes keep the bits.
    static func sampleKey(seed: UInt64, rank: Int, position: Int) -> UInt64 {
        var h = mix(seed ^ 0x7F4A_7C15_D1B5_4A32)
        h = mix(h ^ mix(UInt64(truncatingIfNeeded: rank) &+ 0x6A09_E667_F3BC_C909))
        return mix(h ^ mix(UInt64(truncatingIfNeeded: position) &+ 0xBB67_AE85_84CA_A73B))
    }

    /// SplitMix64's finaliser.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
