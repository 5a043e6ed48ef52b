import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// How ranks combine their work (DESIGN §4). On one rank every mode is plain training.
enum SyncMode: String, ExpressibleByArgument, CaseIterable {
    case average, master, gradient, easgd
    case asyncEASGD = "async-easgd"
}

/// `sparknet-mpi train`: Caffe's `caffe train`, on every rank of the job.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a net from a solver prototxt (like `caffe train`).",
        discussion: """
            Rank 0 logs Caffe-format lines and writes <snapshot_prefix>_iter_<N>.caffemodel and
            .solverstate. batch_size in the prototxt is per rank. Example:
              sparknet-mpi train --solver examples/fashion-mnist/lenet_solver.prototxt
              mpirun -np 4 sparknet-mpi train --solver … --sync average --tau 50
            """)

    @Option(help: "The solver prototxt.")
    var solver: String

    @Option(help: "Weights to fine-tune from (.caffemodel; several separated by commas).")
    var weights: String?

    @Option(help: "A .solverstate to resume from.")
    var snapshot: String?

    @Option(help: "How ranks combine: \(SyncMode.allCases.map(\.rawValue).joined(separator: ", ")).")
    var sync: SyncMode = .average

    @Option(help: "Local iterations between synchronizations (average, master, easgd).")
    var tau: Int = 50

    @Option(help: "EASGD moving rate (default 0.9/K).")
    var alpha: Double?

    @Option(name: .customLong("round-seconds"), help: "End a round after this many seconds even before tau iterations.")
    var roundSeconds: Double?

    @Flag(name: .customLong("average-history"), help: "Average the solver history (momentum) too.")
    var averageHistory = false

    @Option(help: "Write one JSON line per round to this file (rank 0).")
    var metrics: String?

    @Option(help: .hidden)
    var gpu: String?

    func validate() throws {
        if weights != nil && snapshot != nil {
            throw ValidationError("give --snapshot to resume training or --weights to fine-tune, not both")
        }
        guard tau > 0 else { throw ValidationError("--tau must be positive") }
        if let r = roundSeconds, r <= 0 { throw ValidationError("--round-seconds must be positive") }
    }

    func run() throws {
        let param = try Prototxt.readSolver(solver)
        // The solver's random_seed seeds both the net (fillers, dropout) and data shuffling.
        let seed: UInt64 = param.randomSeed >= 0 ? UInt64(param.randomSeed) : 1701
        let context = NetContext(seed: seed, sourceProvider: HDF5BatchSource.provider(seed: seed))
        let s = try Solver(param: param, solverPath: solver, context: context)
        var lastTest: (iter: Int, outputs: [String]) = (-1, [])
        s.log = Log.enabled ? { line in
            if line.contains("Testing net (#0)") { lastTest = (s.iter, []) }
            if line.contains("Test net output #") { lastTest.outputs.append(line.trimmingCharacters(in: .whitespaces)) }
            Log.info(line)
        } : nil
        s.writesFiles = MPIEnvironment.isRoot

        if let weights {
            for path in weights.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !path.isEmpty {
                Log.info("Finetuning from \(path)")
                let model = try CaffeModel.read(path)
                try s.net.copyTrainedLayers(from: model, source: path)
                for t in s.testNets { try t.copyTrainedLayers(from: model, source: path) }
            }
        }
        if let snapshot {
            Log.info("Resuming from \(snapshot)")
            try s.restore(from: snapshot)
        }
        if MPIEnvironment.size > 1 {
            Log.info("\(MPIEnvironment.size) ranks, --sync \(sync.rawValue), tau \(tau)")
        }

        try s.solve()

        // The final test, unless solve() has just run it (the same decision on every rank, as
        // a test is collective under mpirun).
        let interval = Int(s.param.testInterval)
        if !s.testNets.isEmpty && !(interval > 0 && s.iter % interval == 0) {
            _ = try s.test()
        }
        if let accuracy = lastTest.outputs.first(where: { $0.contains(": accuracy") }) ?? lastTest.outputs.first {
            let value = accuracy.replacingOccurrences(of: #"^Test net output #\d+: "#, with: "", options: .regularExpression)
            Log.info("Final test \(value) (iteration \(s.iter))")
        }
        let model = s.snapshotFilename(".caffemodel")
        if s.writesFiles && FileManager.default.fileExists(atPath: model) {
            Log.info("Wrote \(model)")
        }
    }
}
