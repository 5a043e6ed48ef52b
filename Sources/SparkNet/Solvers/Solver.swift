import Foundation
import CaffeProto
import CKernels

/// Caffe's Solver + SGDSolver: builds the train and test nets from a SolverParameter, runs
/// forward/backward, turns gradients into updates over the whole weight arena (learning-rate
/// policy, gradient clipping, iter_size normalization, weight decay, then the `UpdateRule` of
/// `type`), tests, logs in Caffe's format and snapshots in Caffe's formats.
///
/// The distributed trainer drives it through the hooks: `gradientHook` (gradient allreduce),
/// `afterUpdateHook` (model averaging), `testReducer` (sums test outputs across ranks) and
/// `snapshotHook` (per-rank files beside a snapshot).
public final class Solver {
    /// The solver definition, after Caffe's upgrade (solver_type → type, snapshot_prefix).
    public let param: Caffe_SolverParameter
    /// The file the solver came from, if any (relative net paths are also tried beside it).
    public let solverPath: String?
    /// The TRAIN net.
    public let net: Net
    /// The TEST nets (test_net / test_net_param, then the generic net once per extra test_iter).
    public let testNets: [Net]
    /// The update rule of `param.type`.
    public let rule: UpdateRule
    /// The number of weight updates done so far (Caffe's iter_).
    public internal(set) var iter = 0
    /// Caffe's current_step_ (the `step`/`multistep` lr policies' position).
    public internal(set) var currentStep = 0
    /// The history arenas (`rule.historyCount` of them), each laid out like `net.weights`.
    public let historyArenas: [UnsafeMutableBufferPointer<Float>]

    /// Receives Caffe-format log lines; nil keeps the solver silent (non-root ranks).
    public var log: ((String) -> Void)?
    /// Whether snapshots are written (false on non-root ranks; the hook still runs).
    public var writesFiles = true
    /// Saved in the resume sidecar and restored from it, for the caller's own state (the
    /// distributed trainer's `--tau auto`).
    public var sidecarExtras: [String: String] = [:]
    /// Runs after forward/backward (iter_size passes accumulated), before clipping,
    /// normalization, regularization and the update: the place for a gradient allreduce.
    public var gradientHook: ((Solver) throws -> Void)?
    /// Runs after `iter` has been incremented, before a snapshot: the place for model averaging.
    public var afterUpdateHook: ((Solver) throws -> Void)?
    /// Sums test values across ranks: given this rank's sums (every output element, then the
    /// test loss sum, then the batch count), returns the sums over all ranks.
    public var testReducer: (([Double]) throws -> [Double])?
    /// Writes extra per-rank files beside a snapshot; gets `<prefix>_iter_<N>`.
    public var snapshotHook: ((Solver, _ snapshotBase: String) throws -> Void)?
    /// Scales the weights of the next update only: `applyUpdate` computes w ← s·(w − Δ) in its
    /// one pass over the arena (`Net.update(scale:)`), then resets this to 1. Model averaging
    /// sets 1/K before the update that ends a round, so its exchange is a bare sum.
    public var nextUpdateScale: Float = 1
    /// Caffe's requested_early_exit_: `step` stops after the current test or iteration, and
    /// `solve` ends after the snapshot without its final test ("Optimization stopped early").
    public var requestedEarlyExit = false
    /// Decides, at the top of every iteration, whether to test now; nil tests every
    /// test_interval iterations (a driver whose ranks step at different rates decides itself).
    public var testDue: ((Solver) -> Bool)?
    /// Decides, after every update, whether to snapshot now; nil snapshots every `snapshot`
    /// iterations (a driver whose ranks count iterations apart decides itself).
    public var snapshotDue: ((Solver) -> Bool)?
    /// Receives every test's outputs (after `testReducer`): the net's index and (name, mean).
    public var testHook: ((Solver, Int, [(name: String, value: Float)]) throws -> Void)?

    /// The `.solverstate` of the last snapshot written or restored (for error messages).
    public internal(set) var lastSnapshot: String?

    // Smoothed loss (Caffe's losses_ / smoothed_loss_). Kept across `step` calls, and saved in
    // the resume sidecar, so a resumed run logs what an uninterrupted one would.
    var losses: [Float] = []
    var lossUpdates = 0
    public internal(set) var smoothedLoss: Float = 0

    // Display timing (Caffe's iteration_timer_ / iterations_last_); logs only.
    var timerStart = ProcessInfo.processInfo.systemUptime
    var iterationsLast = 0
    var checkedSnapshotPrefix = false

    /// Builds the solver from `param` (upgraded first). `solverPath` is the prototxt the
    /// parameters came from: it defaults `snapshot_prefix` and is a second place to look for
    /// relative net paths. `random_seed` ≥ 0 reseeds `context.rng`; otherwise the context keeps
    /// its own seed (NetContext's fixed default unless the caller chose one).
    public init(param rawParam: Caffe_SolverParameter, solverPath: String? = nil, context: NetContext) throws {
        let p = try SolverUpgrade.upgrade(rawParam, solverPath: solverPath)
        param = p
        self.solverPath = solverPath
        try require(p.averageLoss >= 1, "solver: average_loss should be at least 1, got \(p.averageLoss)")
        try require(p.iterSize >= 1, "solver: iter_size should be at least 1, got \(p.iterSize)")
        if p.weightDecay != 0 {
            try require(p.regularizationType == "L2" || p.regularizationType == "L1",
                        "solver: unknown regularization_type '\(p.regularizationType)' (supported: L2, L1)")
        }
        try require(p.snapshotFormat == .binaryproto || !(p.snapshot > 0 || p.snapshotAfterTrain),
                    "solver: snapshot_format HDF5 is not supported, expected BINARYPROTO")
        rule = try UpdateRules.make(p)
        _ = try LearningRatePolicy.rate(p, iter: 0, currentStep: 0)  // reject a bad policy now

        if p.randomSeed >= 0 { context.rng = RandomGenerator(seed: UInt64(p.randomSeed)) }

        // The train net: exactly one of net, net_param, train_net, train_net_param.
        let count = [p.hasNet, p.hasNetParam, p.hasTrainNet, p.hasTrainNetParam].filter { $0 }.count
        try require(count >= 1, "solver: must specify a train net using one of these fields: net, net_param, train_net, train_net_param")
        try require(count <= 1, "solver: must not contain more than one of these fields specifying a train net: net, net_param, train_net, train_net_param")
        var trainParam: Caffe_NetParameter
        if p.hasTrainNetParam { trainParam = p.trainNetParam }
        else if p.hasTrainNet { trainParam = try Solver.readNet(p.trainNet, solverPath: solverPath) }
        else if p.hasNetParam { trainParam = p.netParam }
        else { trainParam = try Solver.readNet(p.net, solverPath: solverPath) }
        net = try Solver.makeNet(trainParam, phase: .train,
                                 override: p.hasTrainState ? p.trainState : nil, context: context)

        // The test nets (Caffe's InitTestNets).
        let generic = (p.hasNetParam ? 1 : 0) + (p.hasNet ? 1 : 0)
        try require(generic <= 1, "solver: both net_param and net may not be specified")
        let specific = p.testNetParam.count + p.testNet.count
        if generic > 0 {
            try require(p.testIter.count >= specific,
                        "solver: test_iter must be specified for each test network (\(specific) test nets, \(p.testIter.count) test_iter values)")
        } else {
            try require(p.testIter.count == specific,
                        "solver: test_iter must be specified for each test network (\(specific) test nets, \(p.testIter.count) test_iter values)")
        }
        let instances = p.testIter.count
        if !p.testState.isEmpty {
            try require(p.testState.count == instances,
                        "solver: test_state must be unspecified or specified once per test net (\(instances) test nets, \(p.testState.count) test_state values)")
        }
        if instances > 0 {
            try require(p.testInterval > 0, "solver: test nets need test_interval > 0, got \(p.testInterval)")
        }
        var testParams: [Caffe_NetParameter] = p.testNetParam
        for f in p.testNet { testParams.append(try Solver.readNet(f, solverPath: solverPath)) }
        if generic > 0 {
            let g = p.hasNetParam ? p.netParam : try Solver.readNet(p.net, solverPath: solverPath)
            while testParams.count < instances { testParams.append(g) }
        }
        var tests: [Net] = []
        for (i, tp) in testParams.enumerated() {
            tests.append(try Solver.makeNet(tp, phase: .test,
                                            override: p.testState.isEmpty ? nil : p.testState[i], context: context))
        }
        testNets = tests

        // Weights to fine-tune from (solver `weights`, comma-separated lists), train and test nets.
        for list in p.weights {
            for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                let path = Solver.resolve(name, solverPath: solverPath)
                let model = try CaffeModel.read(path)
                try net.copyTrainedLayers(from: model, source: path)
                for t in testNets { try t.copyTrainedLayers(from: model, source: path) }
            }
        }

        let n = max(net.parameterCount, 1)
        historyArenas = (0..<rule.historyCount).map { _ in
            let b = UnsafeMutableBufferPointer(start: allocateFloats(n), count: n)
            b.initialize(repeating: 0)
            return b
        }
    }

    /// Reads a solver prototxt, upgrades it, and builds the solver.
    public convenience init(prototxt path: String, context: NetContext) throws {
        try self.init(param: try Prototxt.readSolver(path), solverPath: path, context: context)
    }

    deinit {
        for h in historyArenas { h.deallocate() }
    }

    // MARK: Net construction

    /// A net path as Caffe resolves it (the current directory), else beside the solver file.
    static func resolve(_ path: String, solverPath: String?) -> String {
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return path }
        if let s = solverPath {
            let alt = URL(fileURLWithPath: s).deletingLastPathComponent().appendingPathComponent(path).path
            if FileManager.default.fileExists(atPath: alt) { return alt }
        }
        return path
    }

    static func readNet(_ path: String, solverPath: String?) throws -> Caffe_NetParameter {
        let resolved = resolve(path, solverPath: solverPath)
        if !FileManager.default.fileExists(atPath: resolved), let s = solverPath {
            let alt = URL(fileURLWithPath: s).deletingLastPathComponent().appendingPathComponent(path).path
            throw SparkNetError("\(path): net file not found (looked in the current directory and beside the solver, as \(alt))")
        }
        return try Prototxt.readNet(resolved)
    }

    /// Caffe's NetState precedence: the phase, then the net's own state, then train_state /
    /// test_state (proto MergeFrom: set scalars override, stages append).
    static func makeNet(_ param: Caffe_NetParameter, phase: Caffe_Phase, override: Caffe_NetState?,
                        context: NetContext) throws -> Net {
        var state = Caffe_NetState()
        state.phase = phase
        for m in [param.hasState ? param.state : nil, override] {
            guard let m else { continue }
            if m.hasPhase { state.phase = m.phase }
            if m.hasLevel { state.level = m.level }
            state.stage += m.stage
        }
        var p = param
        p.state = state
        return try Net(param: p, phase: state.phase, level: Int(state.level), stages: state.stage, context: context)
    }

    // MARK: Training

    /// The learning rate the next update uses (at the current `iter`).
    public var learningRate: Float {
        (try? LearningRatePolicy.rate(param, iter: iter, currentStep: currentStep).rate) ?? 0
    }

    /// Caffe's Solver::Step: `iterations` times, test when due, forward/backward `iter_size`
    /// times, display, update, then snapshot when due.
    public func step(_ iterations: Int) throws {
        try checkSnapshotPrefix()
        let stop = iter + iterations
        let display = Int(param.display), iterSize = Int(param.iterSize)
        let testInterval = Int(param.testInterval)
        timerStart = ProcessInfo.processInfo.systemUptime
        iterationsLast = iter
        while iter < stop {
            net.clearParamDiffs()
            if testDue?(self) ?? (testInterval > 0 && iter % testInterval == 0 && (iter > 0 || param.testInitialization)) {
                try testAll()
                if requestedEarlyExit { break }
            }
            let displayNow = display > 0 && iter % display == 0
            var loss: Float = 0
            for _ in 0..<iterSize { loss += try net.forwardBackward() }
            loss /= Float(iterSize)
            updateSmoothedLoss(loss)
            if displayNow { logTrainOutputs() }
            if !loss.isFinite {
                throw SparkNetError("Iteration \(iter): loss is \(loss.isNaN ? "NaN" : "Inf"); stopping. Last good snapshot: \(lastSnapshot ?? "none")")
            }
            try gradientHook?(self)
            try applyUpdate()
            // iter counts the updates done.
            iter += 1
            try afterUpdateHook?(self)
            if snapshotDue?(self) ?? (param.snapshot > 0 && iter % Int(param.snapshot) == 0) {
                _ = try snapshot()
            }
            if requestedEarlyExit { break }
        }
    }

    /// Sets the iteration count without stepping: an asynchronous driver's ranks end training
    /// on the iteration of the rank that leads, whatever their own step count.
    public func adoptIteration(_ n: Int) { iter = n }

    /// Caffe's Solver::Solve: step to max_iter, snapshot unless just done (snapshot_after_train),
    /// then one more forward to display the loss and a last test when due.
    /// `maxIter` replaces the solver's max_iter (a driver that ends training itself).
    public func solve(maxIter: Int? = nil) throws {
        log?("Solving \(net.name)")
        log?("Learning Rate Policy: \(param.lrPolicy)")
        try step((maxIter ?? Int(param.maxIter)) - iter)
        if param.snapshotAfterTrain && (param.snapshot == 0 || iter % Int(param.snapshot) != 0) {
            _ = try snapshot()
        }
        if requestedEarlyExit {
            log?("Optimization stopped early.")
            return
        }
        if param.display > 0 && iter % Int(param.display) == 0 {
            let loss = try net.forward()
            updateSmoothedLoss(loss)
            log?("Iteration \(iter), loss = \(fmt(smoothedLoss))")
        }
        if param.testInterval > 0 && iter % Int(param.testInterval) == 0 {
            try testAll()
        }
        log?("Optimization Done.")
    }

    /// Caffe's UpdateSmoothedLoss: the mean of the last `average_loss` losses.
    func updateSmoothedLoss(_ loss: Float) {
        let avg = Int(param.averageLoss)
        if losses.count < avg {
            losses.append(loss)
            let size = Float(losses.count)
            smoothedLoss = (smoothedLoss * (size - 1) + loss) / size
        } else {
            let idx = lossUpdates % avg
            smoothedLoss += (loss - losses[idx]) / Float(avg)
            losses[idx] = loss
        }
        lossUpdates += 1
    }

    private func logTrainOutputs() {
        guard let log else { return }
        let now = ProcessInfo.processInfo.systemUptime
        let lapse = Float(now - timerStart)
        let perS = Float(iter - iterationsLast) / (lapse != 0 ? lapse : 1)
        log("Iteration \(iter) (\(fmt(perS)) iter/s, \(fmt(lapse))s/\(param.display) iters), loss = \(fmt(smoothedLoss))")
        timerStart = now
        iterationsLast = iter
        var scoreIndex = 0
        for idx in net.outputBlobIndices {
            let blob = net.blobs[idx], name = net.blobNames[idx], w = net.blobLossWeights[idx]
            for k in 0..<blob.count {
                let v = blob.data[k]
                let lossMsg = w != 0 ? " (* \(fmt(w)) = \(fmt(w * v)) loss)" : ""
                log("    Train net output #\(scoreIndex): \(name) = \(fmt(v))\(lossMsg)")
                scoreIndex += 1
            }
        }
    }

    /// Caffe's SGDSolver::ApplyUpdate without ++iter: learning rate, clipping, then for each
    /// param normalization (1/iter_size), weight decay and the rule's update; then
    /// weights −= update (then scaled by `nextUpdateScale`, which goes back to 1).
    public func applyUpdate() throws {
        let (rate, step) = try LearningRatePolicy.rate(param, iter: iter, currentStep: currentStep)
        if param.lrPolicy == "multistep" && step != currentStep {
            log?("MultiStep Status: Iteration \(iter), step = \(step)")
        }
        currentStep = step
        if param.display > 0 && iter % Int(param.display) == 0 {
            log?("Iteration \(iter), lr = \(fmt(rate))")
        }
        clipGradients()
        let iterSize = Int(param.iterSize)
        let weightDecay = param.weightDecay
        let l1 = param.regularizationType == "L1"
        let w = net.weights.baseAddress!, g = net.gradients.baseAddress!
        let h1 = historyArenas.first?.baseAddress, h2 = historyArenas.count > 1 ? historyArenas[1].baseAddress : nil
        let rule = self.rule, iter = self.iter
        // Plain SGD with L2 decay (LeNet's, CIFAR's and ResNet's solvers): decay, momentum and the
        // weights' own update in one kernel, one pass over each block (`ck_sgd_step`).
        let sgd = rule as? SGDRule, scale = nextUpdateScale
        let fused = sgd != nil && !l1 && iterSize == 1 && h1 != nil && ck_isa() >= 1
        for (i, blob) in net.learnableParams.enumerated() {
            let localDecay = weightDecay * net.paramDecayMult[i], localRate = rate * net.paramLrMult[i]
            // Every step is element-wise, so threads take blocks, and each block goes through all
            // the steps while it is in cache: one trip through memory instead of three.
            let base = net.paramOffsets[i]
            Parallel.forEachBlock(blob.count) { block in
                let off = base + block.lowerBound, n = block.count
                if fused, let sgd, let h1 {
                    _ = ck_sgd_step(w + off, g + off, h1 + off, n, localDecay, localRate, sgd.momentum, scale)
                    return
                }
                // Normalize: undo the accumulation of iter_size passes.
                if iterSize != 1 { scal(n, 1 / Float(iterSize), g + off) }
                // Regularize: L2 adds decay·w, L1 adds decay·sign(w).
                if localDecay != 0 {
                    if l1 {
                        let wp = w + off, gp = g + off
                        for j in 0..<n {
                            let s: Float = wp[j] > 0 ? 1 : (wp[j] < 0 ? -1 : 0)
                            gp[j] += localDecay * s
                        }
                    } else {
                        axpy(n, localDecay, w + off, g + off)
                    }
                }
                guard let h1 else { return }
                rule.computeUpdate(ParamSlice(count: n, gradient: g + off, history: h1 + off,
                                              history2: h2.map { $0 + off }),
                                   localRate: localRate, iter: iter)
            }
        }
        // (the fused kernel has updated the weights: the params tile the arena)
        if !fused { net.update(scale: nextUpdateScale) }
        // Reset only once applied: a scale still pending tells the synchronizer that no update
        // took it, so it scales the weights itself.
        nextUpdateScale = 1
    }

    /// Caffe's ClipGradients: scales every gradient down when their global L2 norm exceeds
    /// clip_gradients (≥ 0).
    func clipGradients() {
        let clip = param.clipGradients
        guard clip >= 0 else { return }
        var sumsq: Float = 0
        for (i, blob) in net.learnableParams.enumerated() {
            let d = net.gradients.baseAddress! + net.paramOffsets[i]
            sumsq += dot(blob.count, d, d)
        }
        let norm = sumsq.squareRoot()
        if norm > clip {
            let factor = clip / norm
            log?("Gradient clipping: scaling down gradients (L2 norm \(fmt(norm)) > \(fmt(clip))) by scale factor \(fmt(factor))")
            scal(net.parameterCount, factor, net.gradients.baseAddress!)
        }
    }

    // MARK: Testing

    /// Tests every test net (Caffe's TestAll).
    public func testAll() throws {
        for i in testNets.indices { _ = try test(netIndex: i) }
    }

    /// Caffe's Solver::Test: the test net takes the train net's weights, runs test_iter batches,
    /// and reports the mean of every output element (summed across ranks by `testReducer`).
    @discardableResult
    public func test(netIndex: Int = 0) throws -> [(name: String, value: Float)] {
        try require(netIndex >= 0 && netIndex < testNets.count,
                    "solver: no test net #\(netIndex) (the solver has \(testNets.count))")
        log?("Iteration \(iter), Testing net (#\(netIndex))")
        let testNet = testNets[netIndex]
        testNet.copyParams(from: net)
        let testIter = Int(param.testIter[netIndex])
        var scores: [Float] = []
        var outputOf: [Int] = []   // output index of each score
        var loss: Float = 0
        for i in 0..<testIter {
            let iterLoss = try testNet.forward()
            if param.testComputeLoss { loss += iterLoss }
            var idx = 0
            for (j, b) in testNet.outputBlobIndices.enumerated() {
                let blob = testNet.blobs[b]
                for k in 0..<blob.count {
                    if i == 0 {
                        scores.append(blob.data[k]); outputOf.append(j)
                    } else {
                        scores[idx] += blob.data[k]
                    }
                    idx += 1
                }
            }
        }
        var means: [Float]
        var meanLoss: Float
        if let reducer = testReducer {
            let mine = scores.map(Double.init) + [Double(loss), Double(testIter)]
            let all = try reducer(mine)
            try require(all.count == mine.count,
                        "solver: testReducer returned \(all.count) values for \(mine.count)")
            let batches = all[all.count - 1]
            means = all[0..<scores.count].map { Float(batches > 0 ? $0 / batches : 0) }
            meanLoss = Float(batches > 0 ? all[scores.count] / batches : 0)
        } else {
            means = scores.map { $0 / Float(testIter) }
            meanLoss = loss / Float(testIter)
        }
        if param.testComputeLoss { log?("Test loss: \(fmt(meanLoss))") }
        var result: [(name: String, value: Float)] = []
        for (i, mean) in means.enumerated() {
            let b = testNet.outputBlobIndices[outputOf[i]]
            let name = testNet.blobNames[b], w = testNet.blobLossWeights[b]
            let lossMsg = w != 0 ? " (* \(fmt(w)) = \(fmt(w * mean)) loss)" : ""
            log?("    Test net output #\(i): \(name) = \(fmt(mean))\(lossMsg)")
            result.append((name, mean))
        }
        try testHook?(self, netIndex, result)
        return result
    }
}

/// A number as C++ `ostream << float` prints it (6 significant digits, %g).
func fmt(_ x: Float) -> String { String(format: "%g", Double(x)) }
