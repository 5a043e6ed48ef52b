import CaffeProto
import Dispatch
import Foundation
import SparkNet

/// How much HDF5 data a rank may hold in memory (`--data-memory-mb`); a larger shard streams
/// (`HDF5StreamingSource`).
public enum HDF5DataMemory {
    /// The budget in MiB; nil: a quarter of physical memory divided by the ranks on this node.
    nonisolated(unsafe) public static var budgetMB: Int? = nil
    /// Why this run cannot stream (streaming reads are collective, so every rank must ask for
    /// batches equally often; async-easgd ranks do not), or nil.
    nonisolated(unsafe) public static var streamingUnavailable: String? = nil

    /// The budget in bytes on this rank.
    static var budgetBytes: Int {
        if let mb = budgetMB { return mb << 20 }
        let env = ProcessInfo.processInfo.environment
        let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"].lazy
            .compactMap { env[$0].flatMap { Int($0) } }.first ?? MPIEnvironment.size
        return Int(clamping: ProcessInfo.processInfo.physicalMemory / 4) / max(1, local)
    }
}

/// A `BatchSource` over Caffe HDF5Data files whose shard does not fit this rank's memory budget:
/// it streams the shard in chunks of rows, holding at most three shuffle windows.
///
/// The shard (the same rows as `HDF5BatchSource`'s) is cut into chunks of `chunkRows` rows
/// (the dataset's HDF5 chunk extent, or a fixed count from the budget), never across files.
/// Epoch e visits the chunks in an order seeded by (seed, rank, e) and groups consecutive ones
/// into windows of at least `windowRows` rows (the shuffle buffer); the rows of a window are
/// served in an order seeded by (seed, rank, e, window). So the order is a pure function of the
/// position (resume sets `position`), and without shuffle it is the in-memory source's order
/// bit for bit. It differs from the in-memory shuffle, which permutes the whole shard at once:
/// here two rows far apart in the file meet in a batch only when their chunks share a window.
///
/// Reads are collective hyperslab reads of whole chunks, on the calling thread (MPI runs
/// SERIALIZED): at each `nextBatch`, before serving, the ranks agree (one allgather) on which
/// file each wants a chunk of and read it, one round per chunk, a rank with nothing to read
/// selecting none, until every rank holds its current window and the two after it. So every
/// rank must call `nextBatch` equally often (true of every sync mode but async-easgd). A window
/// has at least `batchSize` rows, so three cover the batch served and the next one, which is
/// gathered and transformed on a background queue while the net computes.
public final class HDF5StreamingSource: BatchSource, @unchecked Sendable {
    public let topNames: [String]
    public let sampleShapes: [[Int]]
    public let sampleCount: Int
    public let files: [String]
    public var appliesTransform: Bool { writer.transformer != nil }
    /// Rows per chunk (at most; a file's range splits into near-equal chunks).
    public let chunkRows: Int
    /// Rows a window gathers before it closes.
    public let windowRows: Int
    /// The largest batch the windows were sized for.
    public let maxBatch: Int

    private let layout: HDF5Layout
    private let writer: SampleWriter
    private let shuffle: Bool
    private let seed: UInt64
    private let rank: Int
    private let size: Int
    /// This rank's chunks: (file, rows of that file).
    private let chunks: [(file: Int, rows: Range<Int>)]

    /// One epoch's windows: chunk ids (in visiting order) and first sample index of each window.
    private struct Plan {
        let windows: [[Int]]
        let starts: [Int]
    }
    private var plans: [Int: Plan] = [:]

    /// The per-batch agreement on reads runs on a communicator of its own, so it can never
    /// match another collective (the error agreement of a rank that left its batch loop).
    /// Created (collectively) by the first streaming source, which every rank builds together.
    static let agreement = Communicator()

    /// Every streaming source's files, never closed before exit. Closing an MPI-IO file is
    /// collective: a rank unwinding from an error (a bad label) would wait there for ranks
    /// still reading, before it could report. HDF5 closes them at exit, on every rank together
    /// (or MPI_Abort ends the job first).
    nonisolated(unsafe) private static var keptOpen: [[HDF5File]] = []

    /// A window of one epoch: its chunks as they are read, and its serving order.
    private final class Window {
        let epoch: Int
        let index: Int
        let chunkIDs: [Int]
        /// Sample indices (within the epoch) it serves: start ..< start + count.
        let start: Int
        let count: Int
        /// First row (within the window) of each chunk.
        let rowStarts: [Int]
        /// order[j]: the window row served j-th.
        let order: [Int]
        var buffers: [[RowBuffer]] = []
        var complete: Bool { buffers.count == chunkIDs.count }

        init(epoch: Int, index: Int, chunkIDs: [Int], start: Int, rowStarts: [Int], count: Int, order: [Int]) {
            self.epoch = epoch; self.index = index; self.chunkIDs = chunkIDs
            self.start = start; self.rowStarts = rowStarts; self.count = count; self.order = order
        }
        deinit { buffers.joined().forEach { $0.deallocate() } }
    }
    /// Windows held, in stream order (at most three).
    private var resident: [Window] = []

    private var currentPosition = 0
    private lazy var prefetcher = BatchPrefetcher(label: "sparknet.hdf5.stream", sampleSizes: writer.servedSizes)
    public var waitSeconds: Double { prefetcher.waitSeconds }

    /// Streams this rank's shard of the files `layout` opened, for batches of at most
    /// `batchSize`, within `budgetBytes`. Collective in every read; see the type's notes.
    init(layout: HDF5Layout, tops: [String], shuffle: Bool, seed: UInt64, batchSize: Int, budgetBytes: Int,
         transform: Caffe_TransformationParameter?, phase: Caffe_Phase, label: String,
         rank: Int, size: Int) throws {
        try layout.checkEveryRankHasRows(size: size)
        self.layout = layout
        files = layout.files
        topNames = tops
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.size = size
        maxBatch = max(1, batchSize)
        sampleCount = layout.rows(rank: rank, size: size)
        writer = try SampleWriter(transform: transform, phase: phase, label: label,
                                  storedShapes: layout.sampleShapes, seed: seed, rank: rank)
        sampleShapes = writer.servedShapes(layout.sampleShapes)

        // Three windows of < 2·windowRows + 2·chunkRows rows each stay within the budget:
        // windowRows = budget/10 and chunkRows ≤ budget/20 take at most 0.9 of it.
        let budgetRows = budgetBytes / max(1, layout.bytesPerRow)
        // Whole HDF5 chunks of the data when they are small enough (as many as fit), so a read
        // decompresses no chunk twice; else a fixed share of the budget.
        let target = max(1, budgetRows / 20)
        if let fileChunk = try layout.opened.first.flatMap({ try $0.chunkRows(tops[0]) }), fileChunk <= target {
            chunkRows = target / fileChunk * fileChunk
        } else {
            chunkRows = target
        }
        windowRows = min(max(1, budgetRows / 10), sampleCount)
        let needMB = (Int64(maxBatch) * 10 * Int64(layout.bytesPerRow)) >> 20 + 1
        try require(windowRows >= maxBatch && sampleCount >= 2 * maxBatch,
                    "\(label): streaming '\(layout.listPath)' (\(sampleCount) rows on rank \(rank), more than the data memory budget of \(budgetBytes >> 20) MiB) needs windows of at least batch_size \(maxBatch) rows; raise --data-memory-mb to at least \(needMB)")

        var chunks: [(file: Int, rows: Range<Int>)] = []
        for (f, n) in layout.fileRows.enumerated() {
            let r = MPIEnvironment.shardRange(n: n, rank: rank, size: size)
            let parts = (r.count + chunkRows - 1) / chunkRows
            for k in 0..<parts {  // near-equal parts, so no chunk is a sliver
                chunks.append((f, (r.lowerBound + k * r.count / parts) ..< (r.lowerBound + (k + 1) * r.count / parts)))
            }
        }
        self.chunks = chunks
        _ = Self.agreement
        Self.keptOpen.append(layout.opened)
    }

    deinit {
        prefetcher.wait()  // the job in flight reads the windows
    }

    // MARK: the order

    /// Epoch `e`'s windows: chunks in a seeded order, grouped until each holds `windowRows`
    /// rows (a short last window joins the one before).
    private func plan(_ e: Int) -> Plan {
        if let p = plans[e] { return p }
        let order = shuffle ? HDF5BatchSource.permutation(count: chunks.count, seed: seed, rank: rank, epoch: e)
                            : Array(chunks.indices)
        var windows: [[Int]] = [], current: [Int] = [], rows = 0
        for c in order {
            current.append(c)
            rows += chunks[c].rows.count
            if rows >= windowRows { windows.append(current); current = []; rows = 0 }
        }
        if !current.isEmpty {
            if windows.isEmpty { windows.append(current) } else { windows[windows.count - 1] += current }
        }
        var starts = [0]
        for w in windows { starts.append(starts.last! + w.reduce(0) { $0 + chunks[$1].rows.count }) }
        let p = Plan(windows: windows, starts: starts)
        if plans.count > 3 { plans = plans.filter { $0.key >= e - 1 } }
        plans[e] = p
        return p
    }

    /// The window (epoch, index) serving stream position `position`.
    private func windowKey(at position: Int) -> (epoch: Int, index: Int) {
        let e = position / sampleCount, i = position % sampleCount
        let starts = plan(e).starts
        var lo = 0, hi = starts.count - 2
        while lo < hi {  // the last window whose start ≤ i
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        return (e, lo)
    }

    private func next(_ key: (epoch: Int, index: Int)) -> (epoch: Int, index: Int) {
        key.index + 1 < plan(key.epoch).windows.count ? (key.epoch, key.index + 1) : (key.epoch + 1, 0)
    }

    private func makeWindow(_ key: (epoch: Int, index: Int)) -> Window {
        let p = plan(key.epoch)
        let ids = p.windows[key.index]
        var rowStarts: [Int] = [], rows = 0
        for c in ids { rowStarts.append(rows); rows += chunks[c].rows.count }
        var order = Array(0..<rows)
        if shuffle {
            // The rows of the window in an order seeded by (seed, rank, epoch, window).
            let mixed = SampleWriter.mix(seed ^ SampleWriter.mix(UInt64(truncatingIfNeeded: key.index) &+ 0x3C6E_F372_FE94_F82B))
            order = HDF5BatchSource.permutation(count: rows, seed: mixed, rank: rank, epoch: key.epoch)
        }
        return Window(epoch: key.epoch, index: key.index, chunkIDs: ids, start: p.starts[key.index],
                      rowStarts: rowStarts, count: rows, order: order)
    }

    // MARK: reading

    /// Holds the windows serving `position` and the two after it, reading collectively.
    private func fill(from position: Int) throws {
        var keys = [windowKey(at: position)]
        while keys.count < 3 { keys.append(next(keys.last!)) }
        // Keep the windows still needed (a reposition may drop them all), in stream order.
        let kept = keys.map { k in resident.first { $0.epoch == k.epoch && $0.index == k.index } ?? makeWindow(k) }
        resident = kept
        while true {
            let want = resident.first { !$0.complete }
            let chunk = want.map { $0.chunkIDs[$0.buffers.count] }
            let file = chunk.map { chunks[$0].file } ?? -1
            // Every rank learns which files are read this round (one allgather per round).
            // Under --stall-timeout a rank that never arrives ends the job, named, as in an exchange.
            Self.agreement.watchdog = Communicator.world.watchdog
            let all = size > 1 ? Self.agreement.allgather(UInt64(bitPattern: Int64(file))).map { Int(Int64(bitPattern: $0)) } : [file]
            let readFiles = Set(all.filter { $0 >= 0 }).sorted()
            if readFiles.isEmpty { return }
            var buffers: [RowBuffer] = []
            if let chunk {
                let n = chunks[chunk].rows.count
                buffers = zip(layout.sampleSizes, layout.elements).map { RowBuffer(rows: n, rowSize: $0, element: $1) }
            }
            do {
                for f in readFiles {
                    for (t, name) in topNames.enumerated() {
                        let mine = f == file ? chunks[chunk!].rows : 0..<0
                        try layout.opened[f].readRowsCollective(
                            name, dims: [layout.fileRows[f]] + layout.sampleShapes[t], rows: mine,
                            element: layout.elements[t], into: mine.isEmpty ? nil : buffers[t].base)
                    }
                }
            } catch {
                buffers.forEach { $0.deallocate() }
                throw error
            }
            want?.buffers.append(buffers)
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
        try require(batchSize > 0 && batchSize <= maxBatch,
                    "HDF5 streaming source: batch size \(batchSize), but the windows were sized for at most \(maxBatch)")
        // The collective reads run on this thread, once the job in flight no longer reads the windows.
        try prefetcher.serve(position: currentPosition, batchSize: batchSize, into: tops,
                             prepare: { try fill(from: currentPosition) }) { [self] position, count, out in
            gather(from: position, count: count, into: out)
        }
        currentPosition += batchSize
    }

    /// Writes samples `position ..< position + count` from the resident windows (which hold
    /// them: three windows of at least `maxBatch` rows each cover two batches).
    private func gather(from position: Int, count: Int, into out: [UnsafeMutablePointer<Float>]) {
        for k in 0..<count {
            let q = position + k
            let e = q / sampleCount, i = q % sampleCount
            guard let w = resident.first(where: { $0.epoch == e && i >= $0.start && i < $0.start + $0.count && $0.complete }) else {
                preconditionFailure("HDF5StreamingSource: sample \(q) is not in a resident window")
            }
            let r = w.order[i - w.start]
            var c = 0, hi = w.rowStarts.count - 1
            while c < hi {  // the last chunk whose first row ≤ r
                let mid = (c + hi + 1) / 2
                if w.rowStarts[mid] <= r { c = mid } else { hi = mid - 1 }
            }
            writer.write(w.buffers[c], row: r - w.rowStarts[c], into: out, at: k, position: q)
        }
    }
}
