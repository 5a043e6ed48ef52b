import Foundation
import CaffeProto

extension Solver {
    /// `<snapshot_prefix>_iter_<iter><ext>` (Caffe's SnapshotFilename).
    public func snapshotFilename(_ ext: String) -> String {
        "\(param.snapshotPrefix)_iter_\(iter)\(ext)"
    }

    /// Caffe's CheckSnapshotWritePermissions, once, on the rank that writes files.
    func checkSnapshotPrefix() throws {
        guard writesFiles, !checkedSnapshotPrefix, param.snapshot > 0 else { return }
        try require(param.hasSnapshotPrefix,
                    "solver: snapshot is specified but snapshot_prefix is not")
        let probe = snapshotFilename(".tempfile")
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw SparkNetError("solver: cannot write to snapshot prefix '\(param.snapshotPrefix)'. Make sure that the directory exists and is writeable.")
        }
        try? FileManager.default.removeItem(atPath: probe)
        checkedSnapshotPrefix = true
    }

    /// Writes `<prefix>_iter_<N>.caffemodel`, the resume sidecar and `<prefix>_iter_<N>.solverstate`
    /// (when `writesFiles`), then runs `snapshotHook`. Returns the model and state paths.
    @discardableResult
    public func snapshot() throws -> (model: String, state: String) {
        let model = snapshotFilename(".caffemodel")
        let state = snapshotFilename(".solverstate")
        if writesFiles {
            log?("Snapshotting to binary proto file \(model)")
            try CaffeModel.write(net, to: model, writeDiff: param.snapshotDiff)
            log?("Snapshotting solver state to binary proto file \(state)")
            // The sidecar goes first: a .solverstate on disk always has its sidecar.
            try makeSidecar().write(to: SolverSidecar.path(forState: state))
            try SolverStateFile.write(makeSolverState(learnedNet: model), to: state)
        }
        try snapshotHook?(self, snapshotFilename(""))
        lastSnapshot = state
        return (model, state)
    }

    /// Caffe's SolverState: iter, learned_net, current_step and one history blob per learnable
    /// param and history arena, in Caffe's history_ order (all of the first arena, then the second).
    public func makeSolverState(learnedNet: String) -> Caffe_SolverState {
        var s = Caffe_SolverState()
        s.iter = Int32(iter)
        s.learnedNet = learnedNet
        s.currentStep = Int32(currentStep)
        for arena in historyArenas {
            for (i, blob) in net.learnableParams.enumerated() {
                var b = Caffe_BlobProto()
                b.shape.dim = blob.shape.map { Int64($0) }
                b.data = Array(UnsafeBufferPointer(start: arena.baseAddress! + net.paramOffsets[i], count: blob.count))
                s.history.append(b)
            }
        }
        return s
    }

    /// The data layers of every net, with the net's sidecar name.
    func dataLayers() -> [(net: String, layer: Layer, data: DataLayer)] {
        var out: [(String, Layer, DataLayer)] = []
        let nets = [("train", net)] + testNets.enumerated().map { ("test#\($0.offset)", $0.element) }
        for (name, n) in nets {
            for l in n.layers { if let d = l as? DataLayer { out.append((name, l, d)) } }
        }
        return out
    }

    /// What an exact resume needs beyond Caffe's state.
    public func makeSidecar() -> SolverSidecar {
        let sources = dataLayers().compactMap { e -> SolverSidecar.SourcePosition? in
            guard let s = e.data.source else { return nil }
            return .init(net: e.net, layer: e.layer.name, position: s.position)
        }
        var sidecar = SolverSidecar(iter: iter, rng: net.context.rng.words, sources: sources, losses: losses,
                                    smoothedLoss: smoothedLoss, lossUpdates: lossUpdates)
        sidecar.extras = sidecarExtras.isEmpty ? nil : sidecarExtras
        return sidecar
    }

    /// Caffe's Restore: reads the `.solverstate` (iter, current_step, history), copies the weights
    /// of the `.caffemodel` it names (as written, else beside the state file), and applies the
    /// SparkNet sidecar when present (generator, data positions, smoothed-loss window).
    public func restore(from statePath: String) throws {
        let state = try SolverStateFile.read(statePath)
        try require(state.iter >= 0 && state.currentStep >= 0,
                    "\(statePath): iteration \(state.iter) and current_step \(state.currentStep) must not be negative; the file is corrupt")
        let expected = historyArenas.count * net.learnableParams.count
        try require(state.history.count == expected,
                    "\(statePath): incorrect length of history blobs: the file has \(state.history.count), the \(rule.type) solver expects \(expected) (\(historyArenas.count) per learnable param, \(net.learnableParams.count) params)")
        if state.hasLearnedNet {
            let model = try resolveLearnedNet(state.learnedNet, statePath: statePath)
            try net.copyTrainedLayers(from: try CaffeModel.read(model), source: model, log: log)
        }
        let sidecar = try SolverSidecar.readIfPresent(SolverSidecar.path(forState: statePath))
        if let sidecar {
            try require(sidecar.iter == Int(state.iter),
                        "\(SolverSidecar.path(forState: statePath)): the sidecar is for iteration \(sidecar.iter) but \(statePath) is for iteration \(state.iter)")
        }
        for (k, arena) in historyArenas.enumerated() {
            for (i, blob) in net.learnableParams.enumerated() {
                let proto = state.history[k * net.learnableParams.count + i]
                let values = proto.doubleData.isEmpty ? proto.data.count : proto.doubleData.count
                try require(values == blob.count,
                            "\(statePath): history blob \(k * net.learnableParams.count + i) has \(values) values (shape \(BlobCodec.shape(of: proto))), expected \(blob.count) (shape \(blob.shape))")
                let dst = arena.baseAddress! + net.paramOffsets[i]
                if proto.doubleData.isEmpty {
                    proto.data.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: blob.count) }
                } else {
                    for j in 0..<blob.count { dst[j] = Float(proto.doubleData[j]) }
                }
            }
        }
        iter = Int(state.iter)
        currentStep = Int(state.currentStep)
        if let sidecar {
            try apply(sidecar, from: SolverSidecar.path(forState: statePath))
        }
        lastSnapshot = statePath
    }

    private func apply(_ s: SolverSidecar, from path: String) throws {
        let layers = dataLayers()
        for entry in s.sources {
            guard let e = layers.first(where: { $0.net == entry.net && $0.layer.name == entry.layer }),
                  let source = e.data.source else {
                throw SparkNetError("\(path): no data layer '\(entry.layer)' with a source in the \(entry.net) net; the sidecar does not belong to this solver")
            }
            source.position = entry.position
        }
        if let words = s.rngWords { net.context.rng.words = words }
        sidecarExtras = s.extras ?? [:]
        let avg = Int(param.averageLoss)
        if s.losses.count <= avg {
            losses = s.losses
            smoothedLoss = s.smoothedLoss
            lossUpdates = s.lossUpdates
        }
    }

    private func resolveLearnedNet(_ name: String, statePath: String) throws -> String {
        if FileManager.default.fileExists(atPath: name) { return name }
        let dir = URL(fileURLWithPath: statePath).deletingLastPathComponent()
        var tried = [name]
        if !name.hasPrefix("/") {
            let rel = dir.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: rel) { return rel }
            tried.append(rel)
        }
        let beside = dir.appendingPathComponent(URL(fileURLWithPath: name).lastPathComponent).path
        if FileManager.default.fileExists(atPath: beside) { return beside }
        tried.append(beside)
        throw SparkNetError("\(statePath): the model it names (learned_net '\(name)') was not found (tried \(tried.joined(separator: ", ")))")
    }
}
