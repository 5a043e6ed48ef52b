import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

// SyncMode (average, master, gradient, easgd, async-easgd) lives in SparkNetMPI.
extension SyncMode: ExpressibleByArgument {}

/// `sparknet-mpi train`: Caffe's `caffe train`, on every rank of the job.
struct Train: Verb {
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

    @Option(help: "A .solverstate to resume from, or 'auto': the newest complete snapshot under snapshot_prefix (else start fresh).")
    var snapshot: String?

    @Option(name: .customLong("keep-snapshots"), help: "Keep only the N newest complete snapshots (default: all).")
    var keepSnapshots: Int?

    @Option(name: .customLong("stall-timeout"), help: "End the job when a rank waits this many seconds in one exchange (0: never).")
    var stallTimeout: Double = 300

    @Flag(help: "Resume a snapshot written by another number of ranks (the data order restarts).")
    var reshard = false

    @Option(help: "How ranks combine: \(SyncMode.allCases.map(\.rawValue).joined(separator: ", ")).")
    var sync: SyncMode = .average

    @Option(help: ArgumentHelp("Local iterations between synchronizations (average, master, easgd), or auto[:SHARE]: measure a step's compute C and an exchange S and keep tau at the smallest value whose exchange share S/(tau*C+S) is at most SHARE percent (default 5).",
                               valueName: "n|auto[:SHARE]"))
    var tau: String = "50"

    @Option(help: "EASGD moving rate (default 0.9/K).")
    var alpha: Double?

    @Option(name: .customLong("bucket-mb"), parsing: .unconditional,
            help: "Gradient mode: allreduce the gradients in buckets of this many MB, each started as soon as backward has finished its layers (0: one allreduce after backward). The solver's layer_wise_reduce: false turns it off too.")
    var bucketMB: Double = 0.0625

    @Option(name: .customLong("round-seconds"), help: "End a round after this many seconds even before tau iterations.")
    var roundSeconds: Double?

    @Flag(name: .customLong("average-history"), help: "Average the solver history (momentum) too.")
    var averageHistory = false

    @Option(help: "Write one JSON line per round and per test to this file (rank 0).")
    var metrics: String?

    @Option(name: .customLong("comm-delay"), parsing: .unconditional,
            help: "Simulate a slow network: sleep this many seconds in every exchange, on every rank (counted as communication).")
    var commDelay: Double = 0

    @Option(name: .customLong("slow-rank"), help: "R:F — rank R's local steps take F times as long (sleep after each step), to model an unequal worker.")
    var slowRank: String?

    @Option(name: .customLong("target-accuracy"), parsing: .unconditional,
            help: "Stop at the first test whose accuracy reaches this (0 < A <= 1); the log and metrics record when.")
    var targetAccuracy: Double?

    @Option(name: .customLong("data-memory-mb"),
            help: "HDF5 data a rank may hold in memory, in MiB; a larger shard is streamed in chunks (default: a quarter of physical memory divided by the ranks on the node).")
    var dataMemoryMB: Int?

    @Option(help: .hidden)
    var gpu: String?

    func validate() throws {
        if weights != nil && snapshot != nil && snapshot != "auto" {
            throw ValidationError("give --snapshot to resume training or --weights to fine-tune, not both (--snapshot auto may go with --weights, used when there is no snapshot)")
        }
        do {
            if case .auto = try TauSetting(parsing: tau) {
                try TauSetting.requireAutoFits(sync: sync, roundSeconds: roundSeconds)
            }
        } catch let e as SparkNetError { throw ValidationError(e.message) }
        if let r = roundSeconds, r <= 0 { throw ValidationError("--round-seconds must be positive") }
        guard bucketMB >= 0 && bucketMB.isFinite else { throw ValidationError("--bucket-mb must be 0 (no overlap) or positive, got \(bucketMB)") }
        if let k = keepSnapshots, k < 1 { throw ValidationError("--keep-snapshots must be at least 1") }
        guard stallTimeout >= 0 else { throw ValidationError("--stall-timeout must be 0 (off) or positive") }
        if let m = dataMemoryMB, m < 1 { throw ValidationError("--data-memory-mb must be positive") }
    }

    func run() throws {
        var lastTest: (iter: Int, outputs: [String]) = (-1, [])
        let log: (String) -> Void = { line in
            if line.contains("Testing net (#0)") { lastTest = (Int(line.split(separator: " ")[1].dropLast()) ?? -1, []) }
            if line.contains("Test net output #") { lastTest.outputs.append(line.trimmingCharacters(in: .whitespaces)) }
            Log.info(line)
        }
        let tauSetting = try TauSetting(parsing: tau)
        var options = DistributedOptions(sync: sync, tau: tauSetting.initialTau, alpha: alpha, roundSeconds: roundSeconds,
                                         averageHistory: averageHistory, metricsPath: metrics,
                                         commDelay: commDelay, slowRank: slowRank, targetAccuracy: targetAccuracy)
        options.keepSnapshots = keepSnapshots
        options.stallTimeout = stallTimeout > 0 ? stallTimeout : nil
        options.reshard = reshard
        if case .auto(let share) = tauSetting { options.tauAutoShare = share }
        options.bucketElements = Int((bucketMB * 1_048_576 / Double(MemoryLayout<Float>.stride)).rounded(.up))
        let request = TrainRequest(
            solverPath: solver,
            weights: (weights ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            snapshot: snapshot, options: options,
            flags: ["weights=\(weights ?? "")", "snapshot=\(snapshot ?? "")", "sync=\(sync.rawValue)", "tau=\(tau)",
                    "alpha=\(alpha.map { "\($0)" } ?? "")", "round-seconds=\(roundSeconds.map { "\($0)" } ?? "")",
                    "average-history=\(averageHistory)", "metrics=\(metrics ?? "")",
                    "keep-snapshots=\(keepSnapshots ?? 0)", "stall-timeout=\(stallTimeout)", "reshard=\(reshard)",
                    "comm-delay=\(commDelay)", "bucket-mb=\(bucketMB)", "slow-rank=\(slowRank ?? "")",
                    "target-accuracy=\(targetAccuracy.map { "\($0)" } ?? "")", "data-memory-mb=\(dataMemoryMB.map { "\($0)" } ?? "")"])
        HDF5DataMemory.budgetMB = dataMemoryMB
        // Streaming reads are collective, so ranks must ask for batches in lockstep.
        if sync == .asyncEASGD { HDF5DataMemory.streamingUnavailable = "--sync async-easgd ranks read at their own pace" }
        if roundSeconds != nil { HDF5DataMemory.streamingUnavailable = "with --round-seconds ranks read at their own pace" }
        // Every mode stops on a signal with a complete snapshot set (async-easgd on K > 1 ranks
        // through its schedule board, the others at an agreed iteration).
        StopSignals.install()
        // Start-up checks, the solver, initial weights or resume, on every rank together.
        let trainer = try DistributedTrainer.launch(request, log: Log.enabled ? log : nil)
        let s = trainer.solver

        do {
            try trainer.solve()
        } catch let stop as TrainingStopped {
            Log.info("\(stop)")
            throw ExitCode(StopSignals.stoppedStatus)
        }

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
