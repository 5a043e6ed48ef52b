import CaffeProto
import Foundation
import SparkNet

/// Everything `sparknet-mpi train` needs, as given on the command line.
public struct TrainRequest: Sendable {
    public var solverPath: String
    /// Weights to fine-tune from (.caffemodel files).
    public var weights: [String]
    /// A `.solverstate` to resume from, or "auto": the newest complete snapshot set under the
    /// solver's snapshot_prefix, if any.
    public var snapshot: String?
    public var options: DistributedOptions
    /// The command-line flags, compared across ranks together with the prototxt files.
    public var flags: [String]

    public init(solverPath: String, weights: [String] = [], snapshot: String? = nil,
                options: DistributedOptions = DistributedOptions(), flags: [String] = []) {
        self.solverPath = solverPath
        self.weights = weights
        self.snapshot = snapshot
        self.options = options
        self.flags = flags
    }
}

extension DistributedTrainer {
    /// Sets up training on every rank of the job, ready for `solve()`.
    ///
    /// Start-up runs in checkpoints the ranks agree on (`Communicator.agree`), so a bad input
    /// that every rank sees is reported once (by rank 0) and every rank exits non-zero with
    /// `CollectiveError`; an error only some ranks hit names the rank. The checkpoints:
    /// 1. the solver, the nets it names and the flags hash the same on every rank;
    /// 2. the solver builds (each rank reads its shard of every HDF5 source collectively, and
    ///    runs ⌈test_iter/K⌉ test batches over its shard of the test set);
    /// 3. rank 0 can write the metrics file and snapshots;
    /// 4. `--weights` load, or `--snapshot` restores (rank r > 0 from its `.rank<r>` state when
    ///    present, else from rank 0's);
    /// then rank 0's weights are broadcast (fresh runs) and the synchronizer starts.
    public static func launch(_ request: TrainRequest, communicator comm: Communicator = .world,
                              log: ((String) -> Void)?) throws -> DistributedTrainer {
        let rootLog = comm.isRoot ? log : nil

        // 1. The same configuration everywhere.
        let hash = try comm.agree { try configurationHash(request) }
        let hashes = comm.allgather(hash)
        let differ = hashes.indices.filter { hashes[$0] != hashes[0] }
        if !differ.isEmpty {
            let who = differ.map(String.init).joined(separator: ", ")
            throw CollectiveError(message: comm.isRoot
                ? "the ranks disagree on the configuration: rank\(differ.count > 1 ? "s" : "") \(who) read a different solver, net or flags than rank 0 (every rank must run the same command on the same files)"
                : nil)
        }

        // 2. The solver and its nets.
        let trainer = try comm.agree { () throws -> DistributedTrainer in
            var param = try Prototxt.readSolver(request.solverPath)
            shardTestIterations(&param, ranks: comm.size)
            let seed: UInt64 = param.randomSeed >= 0 ? UInt64(param.randomSeed) : 1701
            let context = NetContext(seed: seed, sourceProvider: DataSources.provider(seed: seed, rank: comm.rank, size: comm.size))
            let solver = try Solver(param: param, solverPath: request.solverPath, context: context)
            return try DistributedTrainer(solver: solver, options: request.options, communicator: comm, log: log)
        }
        let solver = trainer.solver
        if let t = request.options.stallTimeout, comm.size > 1 { comm.watchdog = Watchdog(timeout: t, communicator: comm) }
        if comm.size > 1 {
            // Where the ranks run: "2 nodes: node1 (ranks 0, 2), node2 (ranks 1, 3)".
            let hosts = comm.watchdog?.hosts ?? comm.hostNames()
            var order: [String] = []
            for h in hosts where !order.contains(h) { order.append(h) }
            let nodes = order.map { h in
                let ranks = hosts.indices.filter { hosts[$0] == h }.map(String.init)
                return "\(h) (rank\(ranks.count > 1 ? "s" : "") \(ranks.joined(separator: ", ")))"
            }
            rootLog?("\(order.count) node\(order.count > 1 ? "s" : ""): " + nodes.joined(separator: ", "))
        }

        // 3. Files rank 0 writes.
        try comm.agreeOnRoot {
            try trainer.openMetrics()
            try checkSnapshotPrefix(solver)
        }

        // 4. Initial weights or the state to resume from.
        var snapshot = request.snapshot
        if snapshot == "auto", let found = try trainer.findAutoSnapshot() {
            snapshot = found.state
            if found.ranks != comm.size && !request.options.reshard {
                throw CollectiveError(message: comm.isRoot ? "--snapshot auto: the newest complete snapshot, \(found.state), was written by \(found.ranks) rank\(found.ranks == 1 ? "" : "s") and this job has \(comm.size): run it on \(found.ranks), or add --reshard to go on with \(comm.size) (weights, solver history and iteration carry over; the data order restarts)" : nil)
            }
        } else if snapshot == "auto" {
            snapshot = nil
        }
        if snapshot != nil && !request.weights.isEmpty {
            rootLog?("--snapshot auto found a snapshot: --weights is not used")
        }
        let reshard = snapshot != nil && request.options.reshard
        let center = try comm.agree { () throws -> [Float]? in
            for path in request.weights where snapshot == nil {
                rootLog?("Finetuning from \(path)")
                let model = try CaffeModel.read(path)
                try solver.net.copyTrainedLayers(from: model, source: path)
                for t in solver.testNets { try t.copyTrainedLayers(from: model, source: path) }
            }
            guard let snapshot else { return nil }
            rootLog?("Resuming from \(snapshot)\(reshard ? " (--reshard: every rank takes rank 0's state; the data order restarts)" : "")")
            return reshard ? try trainer.restoreResharded(from: snapshot) : try trainer.restoreLocal(from: snapshot)
        }
        let sharedCenter = snapshot.flatMap { trainer.shareRestoredState(snapshot: $0, center: center, perRank: !reshard) }
        try trainer.start(resumed: snapshot != nil && !reshard, center: sharedCenter)
        return trainer
    }

    /// A hash of the solver file, the net files it names and the flags.
    static func configurationHash(_ request: TrainRequest) throws -> UInt64 {
        let path = request.solverPath
        guard let solverText = FileManager.default.contents(atPath: path) else {
            throw SparkNetError("\(path): solver file not found or unreadable")
        }
        var h = solverText.withUnsafeBytes { fnv1a($0) }
        let param = try Prototxt.readSolver(path)
        let nets = [param.net, param.trainNet].filter { !$0.isEmpty } + param.testNet
        for net in nets {
            let candidates = [net, URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(net).path]
            // A missing net file is reported by the solver, identically on every rank.
            if let text = candidates.lazy.compactMap({ FileManager.default.contents(atPath: $0) }).first {
                h = text.withUnsafeBytes { fnv1a($0, seed: h) }
            }
        }
        for flag in request.flags {
            h = Array(flag.utf8 + [0]).withUnsafeBytes { fnv1a($0, seed: h) }
        }
        return h
    }

    /// Caffe's CheckSnapshotWritePermissions, before training starts (rank 0).
    static func checkSnapshotPrefix(_ solver: Solver) throws {
        let p = solver.param
        guard p.snapshot > 0 else { return }
        try require(p.hasSnapshotPrefix, "solver: snapshot is specified but snapshot_prefix is not")
        let probe = "\(p.snapshotPrefix)_iter_\(solver.iter).tempfile"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw SparkNetError("solver: cannot write to snapshot prefix '\(p.snapshotPrefix)'. Make sure that the directory exists and is writeable.")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }
}
