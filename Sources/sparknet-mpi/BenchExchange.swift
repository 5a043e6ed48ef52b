import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi bench-exchange`: times the exchange each sync mode makes for a net's weights,
/// under mpirun, and reports it as nccl-tests do: algorithm bandwidth (bytes / time) and bus
/// bandwidth (the bytes each link carries per second, the figure to compare with a link's rate).
struct BenchExchange: Verb {
    static let configuration = CommandConfiguration(
        commandName: "bench-exchange",
        abstract: "Time each sync mode's exchange of a net's weights (run under mpirun).",
        discussion: """
            The buffer is the net's weight arena (every learnable blob, as training exchanges it).
            Each repeat starts after a barrier and lasts as long as the slowest rank; the table
            gives the median and the fastest repeat. Bus bandwidth follows nccl-tests: allreduce
            (average, easgd, gradient) 2(K-1)/K x bytes / time; master (a reduce to rank 0, then
            a broadcast) 2 x bytes / time. --link-rate adds the ratio of bus bandwidth to it.
            """)

    @Option(help: "The net prototxt (its learnable blobs make the buffer).")
    var model: String

    @Option(help: "average, master, gradient, easgd, or all.")
    var sync: String = "all"

    @Option(help: "Timed repeats per mode (after two untimed ones).")
    var repeats: Int = 20

    @Option(name: .customLong("link-rate"), help: "The link's rate, as tc writes it (100mbit, 1gbit, 10gbit), for the ratio column.")
    var linkRate: String?

    @Option(help: "Also time gradient mode's whole step this many times: compute alone, exchange alone, the two one after the other, and overlapped (the net's Input layers get noise; 0: skip).")
    var steps: Int = 0

    @Option(name: .customLong("bucket-mb"), help: "The overlapped step's bucket size, as train's --bucket-mb.")
    var bucketMB: Double = 0.0625

    func validate() throws {
        guard steps >= 0 else { throw ValidationError("--steps must be 0 or positive") }
        guard bucketMB > 0 && bucketMB.isFinite else { throw ValidationError("--bucket-mb must be positive") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
        guard ["all", "average", "master", "gradient", "easgd"].contains(sync) else {
            throw ValidationError("--sync must be average, master, gradient, easgd or all (async-easgd has no collective exchange to time)")
        }
        if let r = linkRate, Self.bitsPerSecond(r) == nil {
            throw ValidationError("--link-rate '\(r)' is not a rate (examples: 100mbit, 1gbit, 10gbit)")
        }
    }

    /// tc's rate syntax in bits per second: 1gbit, 100mbit, 10kbit, 1000000 (bits), 125mbps (bytes).
    static func bitsPerSecond(_ text: String) -> Double? {
        let t = text.lowercased()
        let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("gbps", 8e9),
                                         ("mbps", 8e6), ("kbps", 8e3), ("bps", 8), ("bit", 1), ("", 1)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v > 0 else { return nil }
            return v * scale
        }
        return nil
    }

    /// Bus bytes per exchanged byte (nccl-tests' busBw factor) for `mode` on `ranks` ranks.
    static func busFactor(_ mode: String, ranks: Int) -> Double {
        mode == "master" ? 2 : 2 * Double(ranks - 1) / Double(ranks)
    }

    func run() throws {
        let comm = Communicator.world
        let count = try comm.agree { () throws -> Int in
            let param = try Prototxt.readNet(model)
            let context = NetContext(seed: 1701, sourceProvider: DataSources.provider(seed: 1701))
            return try Net(param: param, phase: .train, context: context).parameterCount
        }
        let bytes = count * MemoryLayout<Float>.stride
        let k = comm.size
        let hosts = comm.hostNames()
        let nodes = Set(hosts).count
        if comm.isRoot {
            print("bench-exchange: \(model): \(count) floats (\(Self.megabytes(bytes)) MB), \(k) rank\(k == 1 ? "" : "s") on \(nodes) node\(nodes == 1 ? "" : "s"), \(repeats) repeats")
        }
        guard k > 1 else {
            if comm.isRoot { print("bench-exchange: one rank exchanges nothing; run it under mpirun -np K (K >= 2)") }
            return
        }
        let link = linkRate.flatMap(Self.bitsPerSecond)
        let modes = sync == "all" ? ["average", "master", "gradient", "easgd"] : [sync]
        if steps > 0 && (sync == "all" || sync == "gradient") { try timeSteps(comm) }
        var buffer = [Float](repeating: 0, count: count)
        if comm.isRoot {
            print(Self.row(["mode", "bytes", "median_ms", "min_ms", "algbw_Gb/s", "busbw_Gb/s"] + (link != nil ? ["of_link"] : [])))
        }
        for mode in modes {
            var times: [Double] = []
            for r in 0..<(repeats + 2) {
                for i in buffer.indices { buffer[i] = Float(comm.rank + i % 7) }
                comm.barrier()
                let t0 = ProcessInfo.processInfo.systemUptime
                buffer.withUnsafeMutableBufferPointer { b in
                    if mode == "master" {
                        comm.reduceSum(b, root: 0)
                        comm.bcast(b, root: 0)
                    } else {
                        comm.allreduceSum(b)
                    }
                }
                let mine = ProcessInfo.processInfo.systemUptime - t0
                let slowest = comm.allreduce([mine], .max)[0]
                if r >= 2 { times.append(slowest) }
            }
            times.sort()
            let median = times[times.count / 2], fastest = times[0]
            let algbw = Double(bytes) * 8 / median / 1e9
            let busbw = algbw * Self.busFactor(mode, ranks: k)
            if comm.isRoot {
                var cells = [mode, String(bytes), String(format: "%.3f", median * 1e3), String(format: "%.3f", fastest * 1e3),
                             String(format: "%.3f", algbw), String(format: "%.3f", busbw)]
                if let link { cells.append(String(format: "%.1f%%", busbw * 1e9 / link * 100)) }
                print(Self.row(cells))
            }
        }
    }

    /// Gradient mode's step four ways, interleaved so that the machine's noise hits them alike:
    /// forward+backward alone (C), the gradient allreduce alone (S), C then S as `--bucket-mb 0`
    /// trains, and the allreduce overlapped with backward (`OverlappedAllreduce`). Each time is
    /// the slowest rank's; the table gives medians. Overlap at its best takes max(C, S).
    func timeSteps(_ comm: Communicator) throws {
        let param = try Prototxt.readNet(model)
        let context = NetContext(seed: 1701, sourceProvider: DataSources.provider(seed: 1701))
        let net = try Net(param: param, phase: .train, context: context)
        net.fillInputsWithNoise(seed: 1701 &+ UInt64(comm.rank))
        let bucket = Int((bucketMB * 1_048_576 / Double(MemoryLayout<Float>.stride)).rounded(.up))
        let sum = OverlappedAllreduce(net: net, communicator: comm, bucketElements: bucket)
        let top = net.layers.count - 1
        let names = ["compute", "exchange", "serial", "overlapped"]
        var times = [[Double]](repeating: [], count: names.count)
        for r in 0..<(steps + 2) {
            for v in names.indices {
                net.clearParamDiffs()
                net.afterBackwardLayer = v == 3 ? { l in
                    if l == top { sum.begin() }
                    sum.layerDone(l)
                } : nil
                comm.barrier()
                let t0 = ProcessInfo.processInfo.systemUptime
                if v != 1 { try net.forwardBackward() }
                if v == 1 || v == 2 { comm.allreduceSum(net.gradients) }
                if v == 3 { sum.finish() }
                let slowest = comm.allreduce([ProcessInfo.processInfo.systemUptime - t0], .max)[0]
                if r >= 2 { times[v].append(slowest) }
            }
        }
        net.afterBackwardLayer = nil
        let m = times.map { $0.sorted()[$0.count / 2] * 1e3 }
        guard comm.isRoot else { return }
        print("gradient step: \(steps) repeats, buckets of \(bucketMB) MB (\(sum.bucketCount) bucket\(sum.bucketCount == 1 ? "" : "s")), median ms over the slowest rank")
        print(String(format: "  compute C %.2f, exchange S %.2f, C+S %.2f, max(C,S) %.2f", m[0], m[1], m[0] + m[1], max(m[0], m[1])))
        print(String(format: "  serial     %.2f  = %.3f x (C+S), %.3f x max(C,S)", m[2], m[2] / (m[0] + m[1]), m[2] / max(m[0], m[1])))
        print(String(format: "  overlapped %.2f  = %.3f x (C+S), %.3f x max(C,S)", m[3], m[3] / (m[0] + m[1]), m[3] / max(m[0], m[1])))
    }

    /// A table row: the mode left-aligned, the numbers right-aligned in fixed columns.
    static func row(_ cells: [String]) -> String {
        let widths = [9, 12, 10, 10, 11, 11, 8]
        return cells.enumerated().map { i, c in
            let pad = String(repeating: " ", count: max(0, widths[min(i, widths.count - 1)] - c.count))
            return i == 0 ? c + pad : pad + c
        }.joined(separator: " ")
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / 1e6) }
}
