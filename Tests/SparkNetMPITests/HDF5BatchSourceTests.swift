import CaffeProto
import Foundation
import SparkNet
@testable import SparkNetMPI
import Testing

/// A fresh temporary directory per test.
private func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "sparknet-h5-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Writes `n` rows: data[i] = [i*10 + 0 ... i*10 + 5] as 2×3, label[i] = i + base.
private func writeRows(_ path: String, n: Int, base: Int = 0, labelName: String = "label") throws {
    let file = try HDF5File.create(path)
    let data = (0..<n).flatMap { i in (0..<6).map { Float((i + base) * 10 + $0) } }
    let label = (0..<n).map { Float($0 + base) }
    try data.withUnsafeBufferPointer { try file.writeFloat("data", dims: [n, 2, 3], values: $0) }
    try label.withUnsafeBufferPointer { try file.writeFloat(labelName, dims: [n], values: $0) }
}

/// Reads `batches` batches of `batchSize` and returns the labels served, checking each data row
/// matches its label.
private func labels(_ source: HDF5BatchSource, batchSize: Int, batches: Int) throws -> [Int] {
    var data = [Float](repeating: -1, count: batchSize * 6)
    var label = [Float](repeating: -1, count: batchSize)
    var out: [Int] = []
    for _ in 0..<batches {
        try data.withUnsafeMutableBufferPointer { d in
            try label.withUnsafeMutableBufferPointer { l in
                try source.nextBatch(into: [d.baseAddress!, l.baseAddress!], batchSize: batchSize)
            }
        }
        for i in 0..<batchSize {
            let l = Int(label[i])
            #expect(data[i * 6 + 4] == Float(l * 10 + 4), "data row does not match label \(l)")
            out.append(l)
        }
    }
    return out
}

@Suite(.serialized)
struct HDF5BatchSourceTests {
    init() { MPIEnvironment.initialize() }

    @Test func servesRowsInOrderAndWraps() throws {
        let dir = try tempDir()
        try writeRows(dir + "/a.h5", n: 10)
        try (dir + "/a.h5\n").write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        let s = try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                    shuffle: false, seed: 1, rank: 0, size: 1)
        #expect(s.sampleCount == 10)
        #expect(s.sampleShapes == [[2, 3], []])
        #expect(try labels(s, batchSize: 4, batches: 3) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        #expect(s.position == 12)
        // Repositioning drops the prefetched batch.
        s.position = 5
        #expect(try labels(s, batchSize: 3, batches: 1) == [5, 6, 7])
        // A different batch size after a prefetch is served correctly.
        #expect(try labels(s, batchSize: 2, batches: 1) == [8, 9])
    }

    @Test func filesConcatenateAndResolveRelativeToTheList() throws {
        let dir = try tempDir()
        try writeRows(dir + "/a.h5", n: 3, base: 0)
        try writeRows(dir + "/b.h5", n: 4, base: 100)
        try "a.h5\n\n  b.h5  \n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        let s = try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                    shuffle: false, seed: 1, rank: 0, size: 1)
        #expect(s.files == [dir + "/a.h5", dir + "/b.h5"])
        #expect(try labels(s, batchSize: 7, batches: 1) == [0, 1, 2, 100, 101, 102, 103])
    }

    @Test func shardsCoverEveryRowOnce() throws {
        let dir = try tempDir()
        try writeRows(dir + "/a.h5", n: 7, base: 0)
        try writeRows(dir + "/b.h5", n: 5, base: 100)
        try "a.h5\nb.h5\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        for size in [1, 2, 3, 5] {
            var seen: [Int] = []
            for rank in 0..<size {
                let s = try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                            shuffle: false, seed: 1, rank: rank, size: size)
                // Rank r holds rows [⌊rN/K⌋, ⌊(r+1)N/K⌋) of each file.
                let expected = (0..<7).filter { MPIEnvironment.shardRange(n: 7, rank: rank, size: size).contains($0) }
                    + (0..<5).filter { MPIEnvironment.shardRange(n: 5, rank: rank, size: size).contains($0) }.map { $0 + 100 }
                let got = try labels(s, batchSize: s.sampleCount, batches: 1)
                #expect(got == expected, "rank \(rank) of \(size)")
                seen += got
            }
            #expect(seen.sorted() == (0..<7).map { $0 } + (100..<105).map { $0 }, "size \(size)")
        }
    }

    @Test func tooFewRowsForTheRanksIsAnError() throws {
        let dir = try tempDir()
        try writeRows(dir + "/a.h5", n: 3)
        try "a.h5\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        // 3 rows over 4 ranks: rank 0 gets none, and every rank reports it.
        for rank in 0..<4 {
            #expect(throws: SparkNetError.self) {
                _ = try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                        shuffle: false, seed: 1, rank: rank, size: 4)
            }
        }
    }

    @Test func shuffleIsAPermutationPerEpochAndResumesFromPosition() throws {
        let dir = try tempDir()
        try writeRows(dir + "/a.h5", n: 20)
        try "a.h5\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        let open = { try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                         shuffle: true, seed: 42, rank: 0, size: 1) }
        let s = try open()
        let served = try labels(s, batchSize: 5, batches: 12)  // 3 epochs
        let epochs = stride(from: 0, to: 60, by: 20).map { Array(served[$0..<$0 + 20]) }
        for e in epochs { #expect(e.sorted() == Array(0..<20)) }
        #expect(epochs[0] != epochs[1])
        #expect(epochs[0] != Array(0..<20))
        // A second source positioned mid-way serves exactly the rest of the sequence.
        let resumed = try open()
        resumed.position = 35
        #expect(try labels(resumed, batchSize: 5, batches: 5) == Array(served[35..<60]))
        // Different seeds or ranks give different orders.
        #expect(HDF5BatchSource.permutation(count: 20, seed: 42, rank: 0, epoch: 0)
                != HDF5BatchSource.permutation(count: 20, seed: 43, rank: 0, epoch: 0))
        #expect(HDF5BatchSource.permutation(count: 20, seed: 42, rank: 0, epoch: 0)
                != HDF5BatchSource.permutation(count: 20, seed: 42, rank: 1, epoch: 0))
    }

    @Test func integerLabelsAreReadAsFloat() throws {
        let dir = try tempDir()
        do {  // the file closes at the end of this scope
            let file = try HDF5File.create(dir + "/i.h5")
            try [Float](repeating: 0.5, count: 4 * 6).withUnsafeBufferPointer {
                try file.writeFloat("data", dims: [4, 6], values: $0)
            }
            try file.writeInt32("label", dims: [4, 1], values: [3, 1, 4, 1])
        }
        try "i.h5\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        let s = try HDF5BatchSource(listPath: dir + "/list.txt", tops: ["data", "label"],
                                    shuffle: false, seed: 1, rank: 0, size: 1)
        #expect(s.sampleShapes == [[6], [1]])
        var d = [Float](repeating: 0, count: 24), l = [Float](repeating: 0, count: 4)
        try d.withUnsafeMutableBufferPointer { dp in
            try l.withUnsafeMutableBufferPointer { lp in
                try s.nextBatch(into: [dp.baseAddress!, lp.baseAddress!], batchSize: 4)
            }
        }
        #expect(l == [3, 1, 4, 1])
        #expect(d.allSatisfy { $0 == 0.5 })
    }

    /// Each bad input gives one SparkNetError naming the culprit.
    @Test func badInputsNameTheCulprit() throws {
        let dir = try tempDir()
        func message(_ list: String, tops: [String] = ["data", "label"]) -> String {
            do {
                _ = try HDF5BatchSource(listPath: list, tops: tops, shuffle: false, seed: 1, rank: 0, size: 1)
                return "no error"
            } catch let e as SparkNetError {
                return e.message
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(message(dir + "/nope.txt").contains("nope.txt"))
        #expect(message(dir + "/nope.txt").contains("not found"))

        try writeRows(dir + "/good.h5", n: 4)
        try "good.h5\nmissing.h5\n".write(toFile: dir + "/l1.txt", atomically: true, encoding: .utf8)
        let m1 = message(dir + "/l1.txt")
        #expect(m1.contains("missing.h5") && m1.contains("l1.txt") && m1.contains("line 2"), "\(m1)")

        try writeRows(dir + "/nolabel.h5", n: 4, labelName: "target")
        try "nolabel.h5\n".write(toFile: dir + "/l2.txt", atomically: true, encoding: .utf8)
        let m2 = message(dir + "/l2.txt")
        #expect(m2.contains("nolabel.h5") && m2.contains("'label'"), "\(m2)")

        do {
            let f = try HDF5File.create(dir + "/mismatch.h5")
            try [Float](repeating: 0, count: 12).withUnsafeBufferPointer { try f.writeFloat("data", dims: [2, 6], values: $0) }
            try [Float](repeating: 0, count: 3).withUnsafeBufferPointer { try f.writeFloat("label", dims: [3], values: $0) }
        }
        try "mismatch.h5\n".write(toFile: dir + "/l3.txt", atomically: true, encoding: .utf8)
        let m3 = message(dir + "/l3.txt")
        #expect(m3.contains("mismatch.h5") && m3.contains("3 rows"), "\(m3)")

        // Two files whose samples differ in shape.
        do {
            let g = try HDF5File.create(dir + "/other.h5")
            try [Float](repeating: 0, count: 8).withUnsafeBufferPointer { try g.writeFloat("data", dims: [2, 4], values: $0) }
            try [Float](repeating: 0, count: 2).withUnsafeBufferPointer { try g.writeFloat("label", dims: [2], values: $0) }
        }
        try "good.h5\nother.h5\n".write(toFile: dir + "/l4.txt", atomically: true, encoding: .utf8)
        let m4 = message(dir + "/l4.txt")
        #expect(m4.contains("other.h5") && m4.contains("[4]"), "\(m4)")

        try "not hdf5".write(toFile: dir + "/text.h5", atomically: true, encoding: .utf8)
        try "text.h5\n".write(toFile: dir + "/l5.txt", atomically: true, encoding: .utf8)
        #expect(message(dir + "/l5.txt").contains("text.h5"))

        try "\n\n".write(toFile: dir + "/empty.txt", atomically: true, encoding: .utf8)
        #expect(message(dir + "/empty.txt").contains("names no files"))
    }

    @Test func providerPrefixesTheLayer() throws {
        var layer = Caffe_LayerParameter()
        layer.name = "data"
        layer.type = "HDF5Data"
        layer.hdf5DataParam.source = "/nonexistent/list.txt"
        layer.top = ["data", "label"]
        let provider = HDF5BatchSource.provider(seed: 1, rank: 0, size: 1)
        do {
            _ = try provider(layer, .train)
            Issue.record("expected an error")
        } catch let e as SparkNetError {
            #expect(e.message.hasPrefix("layer 'data' (HDF5Data): "), "\(e.message)")
        }
    }
}
