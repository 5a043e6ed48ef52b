import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi time`: Caffe's `caffe time`. Times forward and backward of every layer over
/// `--iterations` passes (after one untimed warm-up pass) and prints the per-layer averages.
struct Time: Verb {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark a net: per-layer forward/backward ms, like `caffe time`.",
        discussion: """
            As in Caffe, backward is called on every layer with the net's own propagate-down
            flags: weight gradients everywhere, input gradients only where the net needs them
            (never into the data; force_backward in the prototxt forces them). Deploy nets with
            an Input layer need no data: their inputs get uniform noise (labels: random classes);
            HDF5Data nets read their source list.
            Threads: as many as OPENBLAS_NUM_THREADS (default: the cores); one thread:
            OPENBLAS_NUM_THREADS=1 sparknet-mpi time --model …
            """)

    @Option(help: "The net prototxt.")
    var model: String

    @Option(help: "Number of timed forward-backward passes.")
    var iterations: Int = 50

    @Option(help: "Phase the net is built in: TRAIN or TEST.")
    var phase: String = "TRAIN"

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
        try BenchmarkNet.validate(phase: phase)
    }

    func run() throws {
        let seed: UInt64 = 1701
        // Bad input fails on every rank alike: agreed, it is printed once.
        let comm = Communicator.world
        let net = try BenchmarkNet.build(model: model, phase: phase, seed: seed)
        let n = net.layers.count
        net.fillInputsWithNoise(seed: seed)
        // Caffe's `caffe time` calls Backward on every layer with bottom_need_backward. A fused
        // chain (FusedChain) shows its time on its first layer in forward, its last in backward.
        func backwardLayer(_ l: Int) { net.backwardLayer(l, always: true) }

        Log.info("Performing Forward")
        let initialLoss = try comm.agree { try net.forward() }
        Log.info("Initial loss: \(initialLoss)")
        Log.info("Performing Backward")
        for (b, w) in net.blobLossWeights.enumerated() where w != 0 {
            setAll(net.blobs[b].count, w, net.blobs[b].diff)
        }
        for l in stride(from: n - 1, through: 0, by: -1) { backwardLayer(l) }

        Log.info("*** Benchmark begins ***")
        Log.info("Testing for \(iterations) iterations.")
        var forwardMs = [Double](repeating: 0, count: n)
        var backwardMs = [Double](repeating: 0, count: n)
        var totalForward = 0.0, totalBackward = 0.0, totalIterations = 0.0
        let totalStart = Clock.now()
        for i in 1...iterations {
            let iterStart = Clock.now()
            for l in 0..<n {
                let t = Clock.now()
                try net.forwardLayer(l)
                forwardMs[l] += Clock.ms(since: t)
            }
            let forwardDone = Clock.now()
            totalForward += Clock.ms(from: iterStart, to: forwardDone)
            for (b, w) in net.blobLossWeights.enumerated() where w != 0 {
                setAll(net.blobs[b].count, w, net.blobs[b].diff)
            }
            for l in stride(from: n - 1, through: 0, by: -1) {
                let t = Clock.now()
                backwardLayer(l)
                backwardMs[l] += Clock.ms(since: t)
            }
            totalBackward += Clock.ms(since: forwardDone)
            let iterMs = Clock.ms(since: iterStart)
            totalIterations += iterMs
            Log.info("Iteration: \(i) forward-backward time: \(Self.format(iterMs)) ms.")
        }
        let totalMs = Clock.ms(since: totalStart)
        let k = Double(iterations)
        Log.info("Average time per layer: ")
        let width = max(10, net.layers.map(\.name.count).max() ?? 0)
        for l in 0..<n {
            let name = String(repeating: " ", count: width - net.layers[l].name.count) + net.layers[l].name
            Log.info("\(name)\tforward: \(Self.format(forwardMs[l] / k)) ms.")
            Log.info("\(name)\tbackward: \(Self.format(backwardMs[l] / k)) ms.")
        }
        Log.info("Average Forward pass: \(Self.format(totalForward / k)) ms.")
        Log.info("Average Backward pass: \(Self.format(totalBackward / k)) ms.")
        Log.info("Average Forward-Backward: \(Self.format(totalIterations / k)) ms.")
        Log.info("Total Time: \(Self.format(totalMs)) ms.")
        Log.info("*** Benchmark ends ***")
    }

    static func format(_ ms: Double) -> String { String(format: "%.4g", ms) }
}

/// The net of a benchmark verb (`time`, `bench-input`), built from `--model` in `--phase`.
enum BenchmarkNet {
    static func validate(phase: String) throws {
        guard ["TRAIN", "TEST"].contains(phase.uppercased()) else {
            throw ValidationError("--phase must be TRAIN or TEST")
        }
    }

    /// Builds the net on every rank; bad input fails on every rank alike (agreed, printed once).
    static func build(model: String, phase: String, seed: UInt64) throws -> Net {
        try Communicator.world.agree { () throws -> Net in
            let param = try Prototxt.readNet(model)
            let context = NetContext(seed: seed, sourceProvider: DataSources.provider(seed: seed))
            return try Net(param: param, phase: phase.uppercased() == "TEST" ? .test : .train, context: context)
        }
    }
}

/// Monotonic wall clock for timings.
enum Clock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func ms(since t: UInt64) -> Double { ms(from: t, to: now()) }
    static func ms(from a: UInt64, to b: UInt64) -> Double { Double(b &- a) * 1e-6 }
}
