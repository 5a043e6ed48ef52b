import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi plan`: SparkNet's cost model (round = τ·C + S) from a step timed here and the
/// exchange over a given link, for each number of nodes and sync mode (docs/scaling.md).
struct Plan: Verb {
    static let configuration = CommandConfiguration(
        abstract: "Predict images/s and communication share per node count and sync mode (SparkNet's round = tau*C + S).",
        discussion: """
            C is one training step (forward, backward, SGD update) of --model, timed here (the
            median of --iterations steps after one warm-up; under mpirun every rank times at once
            and the slowest counts, so ranks that share cores are measured sharing them), or given
            with --compute-ms. S is a ring allreduce of the parameters (4 B each):
              S = 2(K-1)/K x bytes / (efficiency x link rate) + 2(K-1) x latency
            Gradient mode exchanges every step (round = C + S, no overlap credited); average mode
            every tau steps (round = tau*C + S). The "auto" rows give the tau that
            `train --tau auto:SHARE` picks from the same C and S. Example:
              sparknet-mpi plan --model examples/fashion-mnist/lenet_train_test.prototxt --link-rate 1gbit
            """)

    @Option(help: "The train net prototxt (Input layers get noise; data layers read their sources).")
    var model: String

    @Option(name: .customLong("link-rate"), help: "Each node's link, as tc writes rates (100mbit, 1gbit, 10gbit, 100gbit).")
    var linkRate: String = "10gbit"

    @Option(name: .customLong("latency-us"), help: "One hop's latency in microseconds (a ring allreduce makes 2(K-1) hops).")
    var latencyUs: Double = 0

    @Option(help: "The payload share of the link's rate (TCP/IP over Ethernet: 1448/1514).")
    var efficiency: Double = ScalingModel.tcpEfficiency

    @Option(help: "Node counts, comma-separated (one rank per node).")
    var nodes: String = "1,2,4,8,16,32,64,128,256,512,1024"

    @Option(help: "The average mode's taus, comma-separated.")
    var taus: String = "1,2,5,10,20,50,100"

    @Option(help: "The communication share --tau auto aims at, in percent.")
    var share: Double = TauAuto.defaultShare * 100

    @Option(help: "Timed steps for C (after one warm-up step).")
    var iterations: Int = 5

    @Option(name: .customLong("compute-ms"), help: "Use this C (ms per step) instead of timing the net.")
    var computeMs: Double?

    @Option(help: "table (Markdown) or csv.")
    var format: String = "table"

    func validate() throws {
        guard BenchExchange.bitsPerSecond(linkRate) != nil else {
            throw ValidationError("--link-rate '\(linkRate)' is not a rate (examples: 100mbit, 1gbit, 10gbit)")
        }
        guard latencyUs >= 0 && latencyUs.isFinite else { throw ValidationError("--latency-us must be 0 or positive") }
        guard efficiency > 0 && efficiency <= 1 else { throw ValidationError("--efficiency must be in (0, 1], got \(efficiency)") }
        guard share > 0 && share < 100 else { throw ValidationError("--share is a percentage, more than 0 and less than 100, got \(share)") }
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
        if let c = computeMs, !(c > 0 && c.isFinite) { throw ValidationError("--compute-ms must be positive, got \(c)") }
        guard ["table", "csv"].contains(format) else { throw ValidationError("--format must be table or csv, got \(format)") }
        _ = try Self.positiveList(nodes, "--nodes")
        _ = try Self.positiveList(taus, "--taus")
    }

    static func positiveList(_ text: String, _ flag: String) throws -> [Int] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = items.compactMap { Int($0) }.filter { $0 > 0 }
        guard !items.isEmpty, values.count == items.count else {
            throw ValidationError("\(flag) must be positive integers separated by commas, got '\(text)'")
        }
        return values
    }

    func run() throws {
        let comm = Communicator.world
        let (params, batch, measured) = try comm.agree { () throws -> (Int, Int, Double?) in
            let solver = try BenchmarkSolver.make(model: model)
            let batch = DistributedTrainer.batchSize(of: solver.net)
            guard computeMs == nil else { return (solver.net.parameterCount, batch, nil) }
            try solver.step(1)
            var times: [Double] = []
            for _ in 0..<iterations {
                let t = ProcessInfo.processInfo.systemUptime
                try solver.step(1)
                times.append(ProcessInfo.processInfo.systemUptime - t)
            }
            times.sort()
            return (solver.net.parameterCount, batch, times[times.count / 2])
        }
        // The slowest rank's step is the round's.
        let c = computeMs.map { $0 / 1e3 } ?? comm.allreduce([measured ?? 0], .max)[0]
        guard comm.isRoot else { return }
        let costs = ScalingModel(computeSeconds: c, bytes: Double(params * MemoryLayout<Float>.stride), batch: batch,
                                 linkBitsPerSecond: BenchExchange.bitsPerSecond(linkRate)!,
                                 latencySeconds: latencyUs * 1e-6, efficiency: efficiency)
        let source = computeMs != nil ? "given"
            : "measured: median of \(iterations) steps after 1 warm-up, \(Parallel.threads) thread\(Parallel.threads == 1 ? "" : "s")"
                + (comm.size > 1 ? ", slowest of \(comm.size) ranks timing at once" : "")
        print(Self.render(costs, nodes: try Self.positiveList(nodes, "--nodes"), taus: try Self.positiveList(taus, "--taus"),
                          share: share / 100, csv: format == "csv",
                          header: "plan: \(self.model): \(params) parameters (\(String(format: "%.2f", costs.bytes / 1e6)) MB per exchange), batch \(batch) per rank\n"
                            + "C = \(String(format: "%.4g", c * 1e3)) ms per step (\(source)); link \(linkRate) x \(String(format: "%.3f", efficiency)) payload, latency \(latencyUs) us per hop; auto aims at \(String(format: "%g", share))% exchange share"))
    }

    /// The table (or CSV): per K, gradient mode, average mode at each tau, and the auto tau.
    static func render(_ m: ScalingModel, nodes: [Int], taus: [Int], share: Double, csv: Bool, header: String) -> String {
        var rows: [[String]] = []
        func add(_ mode: String, _ p: ScalingModel.Prediction) {
            rows.append([String(p.ranks), mode, String(p.tau), String(format: "%.4g", m.exchangeSeconds(ranks: p.ranks) * 1e3),
                         String(format: "%.4g", p.roundSeconds * 1e3), String(format: "%.2f", p.commShare * 100),
                         String(format: "%.0f", p.imagesPerSecond), String(format: "%.3f", p.efficiency)])
        }
        for k in nodes {
            add("gradient", m.predict(ranks: k, tau: 1))
            for t in taus { add("average", m.predict(ranks: k, tau: t)) }
            add("average (auto)", m.predict(ranks: k, tau: m.autoTau(ranks: k, share: share)))
        }
        let names = ["K", "mode", "tau", "S ms", "round ms", "comm %", "images/s", "efficiency"]
        if csv {
            return ([names.joined(separator: ",")] + rows.map { $0.joined(separator: ",") }).joined(separator: "\n")
        }
        let lines = ["| " + names.joined(separator: " | ") + " |", "|" + String(repeating: "---|", count: names.count)]
            + rows.map { "| " + $0.joined(separator: " | ") + " |" }
        return header + "\n\n" + lines.joined(separator: "\n")
    }
}
