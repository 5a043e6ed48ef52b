import CHDF5
import CaffeProto
import Foundation
import SparkNet

/// Caffe's `convert_imageset`: a list of `path label` lines and a root directory of JPEG/PNG
/// files, to an HDF5 file (`data` uint8 N×C×H×W, one image per chunk; `label` float32 N) that
/// HDF5Data reads, or to an LMDB of Caffe `Datum`s that Caffe's Data layer reads.
///
/// HDF5 under mpirun: every rank decodes a contiguous slice of the list and all ranks write
/// into one file collectively. LMDB: one writer (call `convert` on rank 0 with `Solo()`).
public enum ImageSetConverter {
    public enum Backend: String, Sendable, CaseIterable { case hdf5, lmdb }

    /// convert_imageset's flags, with Caffe's meaning unless noted.
    public struct Options: Sendable {
        /// Resize every image to this size (both or neither; 0 = keep).
        public var resizeHeight = 0
        public var resizeWidth = 0
        /// Shuffle the list (a fixed seed, `shuffleSeed`, so reruns give the same file).
        public var shuffle = false
        /// Decode to one gray channel.
        public var gray = false
        /// LMDB: require every image to have the first one's size (HDF5 always requires it).
        public var checkSize = false
        public var backend: Backend = .hdf5
        /// LMDB: store each file's own bytes (`Datum.encoded`), as Caffe does.
        public var encoded = false
        /// LMDB with `encoded`: the format every file must have ("jpg", "png"; "" = any).
        public var encodeType = ""
        /// Fail on the first unreadable image instead of skipping it.
        public var strict = false
        /// Decoded images each rank keeps from its first pass over its slice (bytes); images
        /// beyond it are decoded a second time when written, so memory stays bounded.
        public var cacheBytes = 1 << 30
        /// HDF5: pixels each rank writes per collective round (bytes; at least one image).
        public var roundBytes = 64 << 20
        public init() {}
    }

    /// One line of the list: its 1-based line number, relative path and label.
    public struct Entry: Sendable, Equatable {
        public let line: Int
        public let path: String
        public let label: Int
        public init(line: Int, path: String, label: Int) { self.line = line; self.path = path; self.label = label }
    }

    /// What `convert` wrote.
    public struct Summary: Sendable {
        /// Images written, of `total` lines; the rest were skipped.
        public let written: Int
        public let total: Int
        /// C, H, W of the first image (every image for HDF5).
        public let shape: [Int]
        /// One message per skipped image, in list order (on rank 0; empty elsewhere).
        public let skips: [String]
    }

    /// The seed of `--shuffle` (xoshiro256** and Fisher–Yates, so the order is the same on
    /// every rank, machine and Swift version).
    public static let shuffleSeed: UInt64 = 1

    /// Reads LIST: `relative/path label` per line (the label is the last whitespace-separated
    /// token, so paths may hold spaces); blank lines are ignored.
    public static func readList(_ list: String) throws -> [Entry] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: list, isDirectory: &isDir) else {
            throw SparkNetError("list file '\(list)' not found")
        }
        guard !isDir.boolValue, let data = FileManager.default.contents(atPath: list) else {
            throw SparkNetError("cannot read list file '\(list)'\(isDir.boolValue ? ": it is a directory" : "")")
        }
        var entries: [Entry] = []
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let cut = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw SparkNetError("\(list):\(i + 1): '\(line)' has no label; expected 'relative/path label'")
            }
            let token = line[line.index(after: cut)...]
            guard let label = Int32(token) else {
                throw SparkNetError("\(list):\(i + 1): label '\(token)' is not an integer")
            }
            let path = line[..<cut].trimmingCharacters(in: .whitespaces)
            entries.append(Entry(line: i + 1, path: path, label: Int(label)))
        }
        return entries
    }

    /// `entries` in `--shuffle` order.
    public static func shuffled(_ entries: [Entry]) -> [Entry] {
        var out = entries
        var rng = RandomGenerator(seed: shuffleSeed)
        for i in stride(from: out.count - 1, to: 0, by: -1) {
            out.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        return out
    }

    /// Checks the flags against each other (the same on every rank).
    public static func validate(_ o: Options) throws {
        try require((o.resizeHeight > 0) == (o.resizeWidth > 0) && o.resizeHeight >= 0 && o.resizeWidth >= 0,
                    "--resize_height and --resize_width must both be positive (or both 0: no resize); got \(o.resizeHeight) and \(o.resizeWidth)")
        try require(o.backend == .lmdb || (!o.encoded && o.encodeType.isEmpty),
                    "--encoded and --encode_type need --backend lmdb (HDF5 stores decoded pixels)")
        try require(!o.encoded || (o.resizeHeight == 0 && !o.gray),
                    "--encoded stores each file's own bytes, so it cannot be combined with --resize_height/--resize_width or --gray (re-encoding is not supported)")
        try require(["", "jpg", "jpeg", "png"].contains(o.encodeType.lowercased()),
                    "--encode_type '\(o.encodeType)': expected jpg or png")
        try require(o.encodeType.isEmpty || o.encoded, "--encode_type needs --encoded")
    }

    /// A decoded image of the list, or why it was skipped.
    private enum Outcome {
        case image(DecodedImage, bytes: [UInt8])
        case bad(String)
    }

    /// Reads and decodes entry `e` (resized as asked).
    private static func load(_ e: Entry, root: String, list: String, options o: Options) -> Outcome {
        let path = (root as NSString).appendingPathComponent(e.path)
        let source = "\(list):\(e.line): '\(path)'"
        guard let data = FileManager.default.contents(atPath: path) else {
            return .bad("\(source): \(FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "file not found")")
        }
        let bytes = [UInt8](data)
        do {
            var img = try ImageCodec.decode(bytes, gray: o.gray, source: source)
            if o.resizeHeight > 0 { img = ImageCodec.resize(img, height: o.resizeHeight, width: o.resizeWidth) }
            if !o.encodeType.isEmpty {
                let isPNG = bytes.first == 0x89
                guard isPNG == (o.encodeType.lowercased() == "png") else {
                    return .bad("\(source): is a \(isPNG ? "PNG" : "JPEG"), but --encode_type \(o.encodeType) asks for \(isPNG ? "JPEG" : "PNG") (re-encoding is not supported)")
                }
            }
            // The file's bytes are kept only for --encoded (the Datum stores them).
            return .image(img, bytes: o.encoded ? bytes : [])
        } catch {
            return .bad((error as? SparkNetError)?.message ?? "\(source): \(error)")
        }
    }

    /// Converts ROOT + LIST to `output`. `group` is the ranks taking part: `Communicator.world`
    /// for HDF5 (collective: every rank calls this), `Solo()` for LMDB on one rank. Errors are
    /// `CollectiveError`s: every rank throws, one carries the message.
    public static func convert(root: String, list: String, output: String, options o: Options,
                               group: RankGroup, log: (String) -> Void) throws -> Summary {
        // Bad flags, ROOT or LIST are the same on every rank: all fail alike, one reports.
        var entries = try group.agree {
            try validate(o)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
                throw SparkNetError("root folder '\(root)' not found\(FileManager.default.fileExists(atPath: root) ? " (it is not a directory)" : "")")
            }
            let dir = (output as NSString).deletingLastPathComponent
            try require(dir.isEmpty || FileManager.default.fileExists(atPath: dir),
                        "cannot write '\(output)': directory '\(dir)' does not exist")
            if o.backend == .lmdb {
                try require(!FileManager.default.fileExists(atPath: output),
                            "LMDB '\(output)' already exists; remove it first (Caffe refuses too)")
            }
            let e = try readList(list)
            try require(!e.isEmpty, "list file '\(list)' names no images")
            return e
        }
        if o.shuffle { entries = shuffled(entries) }
        let n = entries.count
        let mine = MPIEnvironment.shardRange(n: n, rank: group.rank, size: group.size)

        // Pass 1: decode this rank's slice for shapes and failures, keeping what fits the cache.
        var scans: [Int: Result<[Int], SparkNetError>] = [:]
        var cache: [Int: (image: DecodedImage, bytes: [UInt8])] = [:]
        var cached = 0
        for i in mine {
            switch load(entries[i], root: root, list: list, options: o) {
            case .image(let img, let bytes):
                scans[i] = .success([img.channels, img.height, img.width])
                if cached + img.pixels.count + bytes.count <= o.cacheBytes {
                    cache[i] = (img, bytes)
                    cached += img.pixels.count + bytes.count
                }
            case .bad(let why):
                scans[i] = .failure(SparkNetError(why))
            }
        }
        let good = mine.filter { if case .success = scans[$0] { return true }; return false }
        let firstBad = mine.first { if case .failure = scans[$0] { return true }; return false }

        // --strict: the first bad image in list order fails the conversion, before any writing.
        if o.strict {
            let worst = group.minimum(firstBad ?? n)
            if worst < n {
                guard worst == firstBad, case .failure(let e) = scans[worst] else { throw CollectiveError(message: nil) }
                throw CollectiveError(message: "\(e.message) (--strict)")
            }
        }
        // The first readable image (in list order) sets the shape.
        let first = group.minimum(good.first ?? n)
        if first == n {
            let why = firstBad.flatMap { if case .failure(let e) = scans[$0] { return e.message }; return nil } ?? "?"
            throw CollectiveError(message: group.rank == 0 ? "no image of '\(list)' could be read (all \(n) skipped; the first: \(why))" : nil)
        }
        let owner = (0..<group.size).first { MPIEnvironment.shardRange(n: n, rank: $0, size: group.size).contains(first) }!
        let shape = group.broadcast(good.first.flatMap { try? scans[$0]?.get() } ?? [], root: owner)
        if o.backend == .hdf5 || o.checkSize {
            let odd = good.first { (try? scans[$0]?.get()) != shape }
            let worst = group.minimum(odd ?? n)
            if worst < n {
                guard let odd, odd == worst, let oddShape = try? scans[odd]?.get() else { throw CollectiveError(message: nil) }
                let a = entries[first], b = entries[odd]
                let hint = o.backend == .hdf5 ? "; an HDF5 data set needs one size: give --resize_height and --resize_width" : " (--check_size)"
                throw CollectiveError(message: "images differ in size: '\(a.path)' (\(list):\(a.line)) is \(dims(shape)), '\(b.path)' (\(list):\(b.line)) is \(dims(oddShape))\(hint)")
            }
        }
        let skips = mine.compactMap { i -> String? in if case .failure(let e) = scans[i] { return e.message }; return nil }
        let allSkips = group.gatherToRoot(skips)
        for s in allSkips { log("skipping \(s)") }

        // Pass 2 reads an image from the cache, or decodes it again (it must still decode alike).
        let image: (Int) throws -> (image: DecodedImage, bytes: [UInt8]) = { i in
            if let c = cache[i] { return c }
            guard case .image(let img, let bytes) = load(entries[i], root: root, list: list, options: o),
                  [img.channels, img.height, img.width] == (try? scans[i]?.get()) else {
                throw SparkNetError("\(list):\(entries[i].line): '\(entries[i].path)' changed during the conversion (it decoded differently the second time)")
            }
            return (img, bytes)
        }
        switch o.backend {
        case .hdf5: try writeHDF5(good, labels: good.map { Float(entries[$0].label) }, shape: shape,
                                  image: image, roundBytes: o.roundBytes, output: output, group: group)
        case .lmdb: try writeLMDB(good, entries: entries, image: image, output: output, encoded: o.encoded)
        }
        let written = group.sum(good.count)
        if written < n { log("skipped \(n - written) of \(n) images") }
        return Summary(written: written, total: n, shape: shape, skips: allSkips)
    }

    private static func dims(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }

    /// Every rank writes its images' rows into one file, collectively, in rounds of at most
    /// `roundBytes` of pixels per rank (every rank takes part in every round, with no rows once done);
    /// the file appears (rank 0 renames it) only when every rank has written and closed it.
    private static func writeHDF5(_ good: [Int], labels: [Float], shape: [Int],
                                  image: (Int) throws -> (image: DecodedImage, bytes: [UInt8]),
                                  roundBytes: Int, output: String, group: RankGroup) throws {
        let counts = group.allgather(good.count)
        let offset = counts.prefix(group.rank).reduce(0, +)
        let total = counts.reduce(0, +)
        let perImage = shape.reduce(1, *)
        let batch = max(1, roundBytes / perImage)
        let rounds = counts.map { ($0 + batch - 1) / batch }.max()!
        // Rank 0's name (its pid), so that every rank writes the same file.
        let tmpName = String(decoding: group.broadcastBytes(Array(AtomicFile.temporaryName(for: output).utf8), root: 0), as: UTF8.self)
        do {
            try group.agree {
                let file = try HDF5File.createCollective(tmpName)
                let data = try file.createDatasetCollective("data", dims: [total] + shape, chunk: [1] + shape, fileType: ch5_t_std_u8le())
                defer { H5Dclose(data) }
                let label = try file.createDatasetCollective("label", dims: [total], chunk: [min(total, 1 << 16)], fileType: ch5_t_ieee_f32le())
                defer { H5Dclose(label) }
                try labels.withUnsafeBytes {
                    try file.writeRowsCollective(label, dims: [total], rows: offset..<(offset + good.count),
                                                 memType: ch5_t_native_float(), values: $0.baseAddress)
                }
                // A failure (a file that changed since pass 1) must not skip a round the other
                // ranks are in: remember it, write nothing more, and report it after the rounds.
                var failure: Error?
                for r in 0..<rounds {
                    var slice = good.count > r * batch ? Array(good[(r * batch)..<min(good.count, (r + 1) * batch)]) : []
                    var pixels: [UInt8] = []
                    if failure == nil {
                        do { for i in slice { pixels += try image(i).image.pixels } } catch { failure = error }
                    }
                    if failure != nil { slice = [] }
                    let rows = (offset + r * batch)..<(offset + r * batch + slice.count)
                    try pixels.withUnsafeBytes {
                        try file.writeRowsCollective(data, dims: [total] + shape, rows: rows,
                                                     memType: ch5_t_native_uchar(), values: $0.baseAddress)
                    }
                }
                if let failure { throw failure }
            }
            try group.agree {
                guard group.rank == 0 else { return }
                try AtomicFile.publish(tmpName, as: output)
            }
        } catch {
            if group.rank == 0 { unlink(tmpName) }
            throw error
        }
    }

    /// Rank 0 alone: Caffe's Datum records under keys `%08d_path` (the index in the shuffled
    /// list, so skipped lines leave gaps, as in Caffe), into a temporary directory renamed at
    /// the end.
    private static func writeLMDB(_ good: [Int], entries: [Entry],
                                  image: (Int) throws -> (image: DecodedImage, bytes: [UInt8]),
                                  output: String, encoded: Bool) throws {
        let tmp = AtomicFile.temporaryName(for: output)
        do {
            let db = try LMDBWriter(path: tmp)
            for index in good {
                let (img, bytes) = try image(index)
                var d = Caffe_Datum()
                d.label = Int32(entries[index].label)
                if encoded {
                    d.data = Data(bytes)
                    d.encoded = true
                } else {
                    d.channels = Int32(img.channels)
                    d.height = Int32(img.height)
                    d.width = Int32(img.width)
                    d.data = Data(img.pixels)
                }
                let key = String(format: "%08d", index) + "_" + entries[index].path
                try db.put(key: Array(key.utf8), value: [UInt8](try d.serializedData()))
            }
            try db.close()
            try AtomicFile.publish(tmp, as: output)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CollectiveError(message: (error as? SparkNetError)?.message ?? (error as? CollectiveError)?.message ?? "\(error)")
        }
    }
}
