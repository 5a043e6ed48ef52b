import Foundation
import SparkNet
@testable import SparkNetMPI
import Testing

/// Snapshot sets without MPI: a set is complete only while every file the manifest lists has its
/// size and CRC-32; `newestComplete` skips broken sets; `prune` keeps the newest complete ones.
@Suite(.serialized)
struct SnapshotManifestTests {
    let dir = NSTemporaryDirectory() + "sparknet-manifest-\(UUID().uuidString)"
    var prefix: String { dir + "/net" }

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// The files two ranks write for a snapshot at `iter` (distinct contents), then its manifest.
    @discardableResult
    func writeSet(_ iter: Int, sealed: Bool = true) throws -> String {
        let base = "\(prefix)_iter_\(iter)"
        for (i, name) in [".caffemodel", ".solverstate", ".solverstate.sparknet", ".solverstate.rank1",
                          ".solverstate.rank1.sparknet"].enumerated() {
            try Data("\(iter)-\(i)-contents".utf8).write(to: URL(fileURLWithPath: base + name))
        }
        if sealed { try SnapshotManifest.seal(base: base, iteration: iter, ranks: 2, sync: "average") }
        return base
    }

    @Test func sealedSetIsCompleteUntilAFileChanges() throws {
        let base = try writeSet(10)
        let m = try #require(SnapshotManifest.read(SnapshotManifest.path(base: base)))
        #expect(m.iteration == 10 && m.ranks == 2 && m.sync == "average" && m.state == "net_iter_10.solverstate")
        #expect(m.files.map(\.name) == ["net_iter_10.caffemodel", "net_iter_10.solverstate", "net_iter_10.solverstate.sparknet",
                                        "net_iter_10.solverstate.rank1", "net_iter_10.solverstate.rank1.sparknet"])
        #expect(m.problem(in: dir) == nil)

        let rank1 = base + ".solverstate.rank1"
        let good = try Data(contentsOf: URL(fileURLWithPath: rank1))
        var flipped = good
        flipped[0] ^= 1
        try flipped.write(to: URL(fileURLWithPath: rank1))
        #expect(m.problem(in: dir) == "net_iter_10.solverstate.rank1 does not match its checksum")
        try good.dropLast().write(to: URL(fileURLWithPath: rank1))
        #expect(m.problem(in: dir) == "net_iter_10.solverstate.rank1 has \(good.count - 1) bytes, the manifest says \(good.count)")
        try FileManager.default.removeItem(atPath: rank1)
        #expect(m.problem(in: dir) == "net_iter_10.solverstate.rank1 is missing")
    }

    @Test func newestCompleteSkipsBrokenAndUnsealedSets() throws {
        try writeSet(10)
        let broken = try writeSet(20)
        try writeSet(30, sealed: false)   // being written: no manifest yet
        try Data("x".utf8).write(to: URL(fileURLWithPath: broken + ".caffemodel"))
        let found = try #require(SnapshotManifest.newestComplete(prefix: prefix))
        #expect(found.manifest.iteration == 10)
        let written = "20-0-contents".utf8.count
        #expect(found.skipped == ["iteration 20: net_iter_20.caffemodel has 1 bytes, the manifest says \(written)"])
        #expect(SnapshotManifest.sets(prefix: prefix).map(\.iteration) == [20, 10])
    }

    @Test func pruneKeepsTheNewestCompleteSetsAndLeavesUnsealedOnes() throws {
        for i in [10, 20, 30, 40] { try writeSet(i) }
        try writeSet(50, sealed: false)
        let gone = SnapshotManifest.prune(prefix: prefix, keep: 2, current: 40)
        #expect(gone == [20, 10])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left.filter { $0.hasSuffix(".manifest.json") } == ["net_iter_30.manifest.json", "net_iter_40.manifest.json"])
        #expect(!left.contains { $0.hasPrefix("net_iter_10.") || $0.hasPrefix("net_iter_20.") })
        #expect(left.filter { $0.hasPrefix("net_iter_50.") }.count == 5)
        // The set just written is never deleted, even when newer complete sets exist.
        #expect(SnapshotManifest.prune(prefix: prefix, keep: 1, current: 30) == [])
    }
}
