import CZlib
import Foundation
import SparkNet

/// What one snapshot set holds, written last (atomically) by rank 0 as
/// `<prefix>_iter_<N>.manifest.json` once every rank's files of the set are on disk: the
/// iteration, the number of ranks, the sync mode, and the size and CRC-32 of every file. A set
/// is complete when its manifest exists and every file it lists has that size and checksum;
/// `train --snapshot auto` resumes from the newest complete set and `--keep-snapshots N`
/// deletes the older ones.
public struct SnapshotManifest: Codable, Equatable {
    /// One file of the set, named relative to the manifest's directory.
    public struct Entry: Codable, Equatable {
        public var name: String
        public var bytes: Int
        public var crc32: UInt32
    }

    public var format = "sparknet-snapshot-manifest"
    public var version = 1
    public var iteration: Int
    /// The number of ranks that wrote the set (K).
    public var ranks: Int
    /// The `--sync` mode of the run that wrote it.
    public var sync: String
    /// Rank 0's `.solverstate` (a name in `files`).
    public var state: String
    public var files: [Entry]

    /// `<base>.manifest.json`, where base is `<prefix>_iter_<N>`.
    public static func path(base: String) -> String { base + ".manifest.json" }

    /// The files of the snapshot `base` that K ranks write (DistributedTrainer's naming): rank
    /// 0's model, state and sidecar, every other rank's state and sidecar, and the optional
    /// files that exist (per-rank models of a mid-round snapshot, the EASGD center).
    static func files(base: String, ranks: Int) -> [String] {
        let state = base + ".solverstate"
        var names = [base + ".caffemodel", state, SolverSidecar.path(forState: state)]
        for r in 1..<max(ranks, 1) {
            let mine = DistributedTrainer.rankStatePath(state, rank: r)
            names += [mine, SolverSidecar.path(forState: mine)]
        }
        let optional = (1..<max(ranks, 1)).map { base + ".caffemodel.rank\($0)" } + [DistributedTrainer.centerPath(forState: state)]
        return names + optional.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// Checksums the files of snapshot `base` and writes its manifest atomically (rank 0,
    /// after every rank has written its files).
    @discardableResult
    public static func seal(base: String, iteration: Int, ranks: Int, sync: String) throws -> SnapshotManifest {
        let entries = try files(base: base, ranks: ranks).map { path -> Entry in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SparkNetError("\(path): a file of the snapshot is missing; cannot write its manifest")
            }
            return Entry(name: URL(fileURLWithPath: path).lastPathComponent, bytes: data.count, crc32: checksum(data))
        }
        let m = SnapshotManifest(iteration: iteration, ranks: ranks, sync: sync,
                                 state: URL(fileURLWithPath: base + ".solverstate").lastPathComponent, files: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(m), to: path(base: base))
        return m
    }

    /// zlib's CRC-32 of `data`.
    public static func checksum(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw -> UInt32 in
            var crc = crc32(0, nil, 0)
            var offset = 0
            while offset < raw.count {
                let n = min(raw.count - offset, Int(UInt32.max))
                crc = crc32(crc, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(n))
                offset += n
            }
            return UInt32(crc)
        }
    }

    /// Why the set in `directory` is incomplete, or nil when every file is there with its size
    /// and checksum.
    public func problem(in directory: String) -> String? {
        for e in files {
            let path = directory + "/" + e.name
            guard let data = FileManager.default.contents(atPath: path) else { return "\(e.name) is missing" }
            if data.count != e.bytes { return "\(e.name) has \(data.count) bytes, the manifest says \(e.bytes)" }
            if Self.checksum(data) != e.crc32 { return "\(e.name) does not match its checksum" }
        }
        return files.contains { $0.name == state } ? nil : "the manifest does not list its state file \(state)"
    }

    /// A snapshot set found under a prefix: its iteration and manifest path.
    public struct Found {
        public var iteration: Int
        public var manifestPath: String
        /// The directory the set's files are in.
        public var directory: String { URL(fileURLWithPath: manifestPath).deletingLastPathComponent().path }
    }

    /// Every manifest under `prefix` (`<prefix>_iter_<N>.manifest.json`), newest first.
    public static func sets(prefix: String) -> [Found] {
        let url = URL(fileURLWithPath: prefix)
        let dir = url.deletingLastPathComponent().path
        let stem = url.lastPathComponent + "_iter_"
        let suffix = ".manifest.json"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> Found? in
            guard name.hasPrefix(stem), name.hasSuffix(suffix),
                  let n = Int(name.dropFirst(stem.count).dropLast(suffix.count)) else { return nil }
            return Found(iteration: n, manifestPath: dir + "/" + name)
        }.sorted { $0.iteration > $1.iteration }
    }

    /// Reads a manifest; nil if it is unreadable or not a manifest.
    public static func read(_ path: String) -> SnapshotManifest? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(SnapshotManifest.self, from: data)
    }

    /// The newest complete set under `prefix`, and why each newer one was skipped.
    public static func newestComplete(prefix: String) -> (found: Found, manifest: SnapshotManifest, skipped: [String])? {
        var skipped: [String] = []
        for f in sets(prefix: prefix) {
            guard let m = read(f.manifestPath) else {
                skipped.append("iteration \(f.iteration): unreadable manifest")
                continue
            }
            if let why = m.problem(in: f.directory) {
                skipped.append("iteration \(f.iteration): \(why)")
                continue
            }
            return (f, m, skipped)
        }
        return nil
    }

    /// Deletes every complete set under `prefix` but the `keep` newest and `current` (the one
    /// just written): its manifest first, so that a set is never complete with files missing.
    /// Sets without a valid manifest (being written, or broken) are left alone. Returns the
    /// iterations deleted.
    @discardableResult
    public static func prune(prefix: String, keep: Int, current: Int) -> [Int] {
        var kept = 0
        var deleted: [Int] = []
        for f in sets(prefix: prefix) {
            guard let m = read(f.manifestPath), m.problem(in: f.directory) == nil else { continue }
            if kept < keep || f.iteration == current {
                kept += 1
                continue
            }
            try? FileManager.default.removeItem(atPath: f.manifestPath)
            for e in m.files { try? FileManager.default.removeItem(atPath: f.directory + "/" + e.name) }
            deleted.append(f.iteration)
        }
        return deleted
    }
}
