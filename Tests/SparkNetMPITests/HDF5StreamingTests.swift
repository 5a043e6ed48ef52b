import CaffeProto
import Foundation
@testable import SparkNet
@testable import SparkNetMPI
import Testing

/// The streaming source: the same samples as the in-memory one, in windows, within a budget.
@Suite(.serialized)
struct HDF5StreamingTests {
    init() { MPIEnvironment.initialize() }

    static let rows = 100
    /// 3×5×5 bytes + a float label.
    static let bytesPerRow = 79

    static func streaming(_ list: String, shuffle: Bool, seed: UInt64 = 5, batch: Int = 4, budgetRows: Int = 40,
                          transform: Caffe_TransformationParameter? = nil) throws -> HDF5StreamingSource {
        let layout = try HDF5Layout(listPath: list, tops: ["data", "label"])
        return try HDF5StreamingSource(layout: layout, tops: ["data", "label"], shuffle: shuffle, seed: seed,
                                       batchSize: batch, budgetBytes: budgetRows * bytesPerRow,
                                       transform: transform, phase: .train, label: "layer 'd'", rank: 0, size: 1)
    }

    @Test func withoutShuffleItServesTheInMemoryStreamBitForBit() throws {
        let list = try HDF5TransformTests.writeFixture(rows: Self.rows)
        let param = try HDF5TransformTests.transformParam()
        let s = try Self.streaming(list, shuffle: false, transform: param)
        #expect(s.chunkRows == 2 && s.windowRows == 4)
        let m = try HDF5BatchSource(listPath: list, tops: ["data", "label"], shuffle: false, seed: 5,
                                    transform: param, phase: .train, label: "layer 'd'", rank: 0, size: 1)
        let a = try HDF5TransformTests.serve(s, batchSize: 4, batches: 60)  // 2.4 epochs
        let b = try HDF5TransformTests.serve(m, batchSize: 4, batches: 60)
        #expect(a.labels == b.labels)
        #expect(a.data.map(\.bitPattern) == b.data.map(\.bitPattern))
    }

    @Test func shuffledEpochsArePermutationsAndResumeExactly() throws {
        let list = try HDF5TransformTests.writeFixture(rows: Self.rows)
        let param = try HDF5TransformTests.transformParam()
        let s = try Self.streaming(list, shuffle: true, transform: param)
        let all = try HDF5TransformTests.serve(s, batchSize: 4, batches: 75)  // 3 epochs
        for e in 0..<3 {
            #expect(Set(all.labels[(e * 100)..<((e + 1) * 100)]) == Set(0..<100), "epoch \(e)")
        }
        #expect(all.labels[0..<100] != all.labels[100..<200])  // a new order every epoch
        #expect(Array(all.labels[0..<100]) != Array(0..<100))
        // Each window holds whole chunks: the first window's 4 positions are 2 chunks of 2 rows.
        let first = all.labels[0..<4].sorted()
        #expect(first.count == 4 && Set(first.map { $0 / 2 }).count == 2, "\(first)")

        // Repositioned (resume) at 137 in a fresh source, and read in other batch sizes: the same bits.
        let r = try Self.streaming(list, shuffle: true, transform: param)
        r.position = 137
        let tail = try HDF5TransformTests.serve(r, batchSize: 3, batches: 21)
        #expect(tail.labels == Array(all.labels[137..<200]))
        #expect(tail.data.map(\.bitPattern) == Array(all.data[(137 * 27)..<(200 * 27)]).map(\.bitPattern))
        s.position = 0
        let again = try HDF5TransformTests.serve(s, batchSize: 4, batches: 10)
        #expect(again.labels == Array(all.labels[0..<40]))
    }

    @Test func aBudgetTooSmallForTheBatchIsAnError() throws {
        let list = try HDF5TransformTests.writeFixture(rows: Self.rows)
        do {
            _ = try Self.streaming(list, shuffle: true, batch: 8, budgetRows: 40)
            Issue.record("expected an error")
        } catch let e as SparkNetError {
            #expect(e.message.contains("layer 'd'") && e.message.contains("--data-memory-mb") && e.message.contains("batch_size 8"), "\(e.message)")
        }
    }

    @Test func theProviderStreamsAShardOverTheBudget() throws {
        let list = try HDF5TransformTests.writeFixture(rows: Self.rows)
        var layer = Caffe_LayerParameter()
        layer.name = "data"
        layer.type = "HDF5Data"
        layer.hdf5DataParam.source = list
        layer.hdf5DataParam.batchSize = 2
        layer.top = ["data", "label"]
        let provider = HDF5BatchSource.provider(seed: 1, rank: 0, size: 1)
        defer { HDF5DataMemory.budgetMB = nil }
        HDF5DataMemory.budgetMB = 1
        #expect(try provider(layer, .train) is HDF5BatchSource)  // 7.9 KB fit in 1 MiB
        let big = try HDF5TransformTests.writeFixture(rows: 20_000)  // 1.5 MiB
        layer.hdf5DataParam.source = big
        #expect(try provider(layer, .train) is HDF5StreamingSource)
    }
}
