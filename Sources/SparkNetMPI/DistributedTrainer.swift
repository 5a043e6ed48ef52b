import CaffeProto
import Foundation
import SparkNet

/// The distribution flags of `train` (DESIGN §4, §6).
public struct DistributedOptions: Sendable {
    public var sync: SyncMode
    /// Local iterations per round (average, master, easgd, async-easgd); the metrics window in
    /// gradient mode.
    public var tau: Int
    /// EASGD moving rate (default 0.9/K).
    public var alpha: Double?
    /// SparkNet's time-bounded rounds: each rank ends its round when its own clock has run this
    /// many seconds (or after tau steps), with no agreement per iteration, so fast ranks make
    /// more local steps than slow ones. Wall-clock dependent: not reproducible bit for bit.
    public var roundSeconds: Double?
    /// Average the solver history (momentum) too (average and master modes).
    public var averageHistory: Bool
    /// One JSON line per round, written by rank 0.
    public var metricsPath: String?
    /// After every exchange that makes weights equal, compare a hash of every rank's weights
    /// and fail on a mismatch (tests; also `SPARKNET_CHECK_SYNC=1`).
    public var verifySync: Bool
    /// Keep only this many complete snapshot sets (`--keep-snapshots`; nil keeps all).
    public var keepSnapshots: Int?
    /// Seconds a rank may wait in one exchange before the job ends naming the stalled rank
    /// (`--stall-timeout`; nil: no watchdog).
    public var stallTimeout: Double?
    /// A resume with another number of ranks restarts the data order (`--reshard`).
    public var reshard = false
    /// Simulated seconds per exchange (`--comm-delay`).
    public var commDelay: Double
    /// "R:F": rank R's local steps F times slower (`--slow-rank`).
    public var slowRank: String?
    /// Stop at the first test whose accuracy reaches this (`--target-accuracy`).
    public var targetAccuracy: Double?
    /// Gradient mode: floats per bucket of the allreduce overlapped with backward (`--bucket-mb`;
    /// 0: one allreduce after backward, as does the solver's `layer_wise_reduce: false`).
    public var bucketElements = 0
    /// `--tau auto[:SHARE]`: the target communication share; `tau` is then only the first
    /// rounds' τ (`TauAuto`).
    public var tauAutoShare: Double?

    public init(sync: SyncMode = .average, tau: Int = 50, alpha: Double? = nil, roundSeconds: Double? = nil,
                averageHistory: Bool = false, metricsPath: String? = nil,
                verifySync: Bool = ProcessInfo.processInfo.environment["SPARKNET_CHECK_SYNC"] == "1",
                commDelay: Double = 0, slowRank: String? = nil, targetAccuracy: Double? = nil) {
        self.commDelay = commDelay
        self.slowRank = slowRank
        self.targetAccuracy = targetAccuracy
        self.sync = sync
        self.tau = tau
        self.alpha = alpha
        self.roundSeconds = roundSeconds
        self.averageHistory = averageHistory
        self.metricsPath = metricsPath
        self.verifySync = verifySync
    }
}

/// What one round cost, over all ranks (the maximum over ranks for times).
public struct RoundMetrics: Sendable {
    public var round: Int
    /// The iteration count after the round.
    public var iteration: Int
    /// Iterations in this round.
    public var iterations: Int
    /// Mean training loss over the round's iterations and all ranks.
    public var loss: Double
    /// The learning rate of the round's last update.
    public var lr: Double
    public var roundSeconds: Double
    /// Forward, backward and update (the round minus waiting, communication, testing and snapshots).
    public var computeSeconds: Double
    /// Time in the exchange itself (weights or gradients), once every rank has arrived.
    public var commSeconds: Double
    /// Time waiting for the slowest rank to reach the exchange (load imbalance): measured by a
    /// barrier just before the exchange when metrics are on.
    public var syncWaitSeconds: Double
    /// Time the train net waited for data that was not prefetched yet.
    public var dataWaitSeconds: Double
    public var testSeconds: Double
    public var snapshotSeconds: Double
    /// Training images per second, all ranks together.
    public var imagesPerSecond: Double
    public var ranks: Int
    /// How many ranks' measurements this holds (1 in async-easgd, which has no collective).
    public var ranksReporting: Int
    /// Seconds since training started (rank 0's clock).
    public var wallSeconds: Double = 0
    /// Bytes this rank exchanged in the round (each collective's buffer counted once, as
    /// nccl-tests count a collective's size).
    public var exchangedBytes: Double = 0
    /// The round's τ (nil in gradient mode, which exchanges every step).
    public var tau: Int?
    /// `exchangedBytes` over `commSeconds`, in Gbit/s (nccl-tests' algorithm bandwidth). With
    /// gradient mode's overlap, `commSeconds` is only the part backward did not hide.
    public var bandwidthGbps: Double { commSeconds > 0 ? exchangedBytes * 8 / commSeconds / 1e9 : 0 }
    /// Further `"key": value` pairs (the simulated costs).
    public var extraJSON = ""

    /// One JSON object, keys in a fixed order.
    public var json: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "null" }
        return "{\"round\": \(round), \"iteration\": \(iteration), \"iterations\": \(iterations), "
            + "\"loss\": \(f(loss)), \"lr\": \(f(lr)), \"round_s\": \(f(roundSeconds)), "
            + "\"compute_s\": \(f(computeSeconds)), \"comm_s\": \(f(commSeconds)), \"sync_wait_s\": \(f(syncWaitSeconds)), "
            + "\"data_wait_s\": \(f(dataWaitSeconds)), \"test_s\": \(f(testSeconds)), "
            + "\"snapshot_s\": \(f(snapshotSeconds)), \"images_per_s\": \(f(imagesPerSecond)), "
            + "\"ranks\": \(ranks), \"ranks_reporting\": \(ranksReporting), \"wall_s\": \(f(wallSeconds)), "
            + "\"bytes\": \(Int(exchangedBytes)), \"bandwidth_gbps\": \(f(bandwidthGbps))"
            + (tau.map { ", \"tau\": \($0)" } ?? "")
            + (extraJSON.isEmpty ? "" : ", " + extraJSON) + "}"
    }
}

/// Drives a `Solver` on every rank of a job: installs the solver hooks that synchronize
/// (`gradientHook`, `afterUpdateHook`), combine test outputs (`testReducer`) and save every
/// rank's state beside a snapshot (`snapshotHook`); decides when rounds end; and measures them.
///
/// Rank 0 alone logs and writes the `.caffemodel`/`.solverstate`. Every other rank r writes
/// `<prefix>_iter_N.solverstate.rank<r>` (+ its `.sparknet` sidecar, and
/// `<prefix>_iter_N.caffemodel.rank<r>` when its weights differ from rank 0's), so a resume
/// with the same K continues bit for bit. EASGD modes also save the center variable as
/// `<prefix>_iter_N.center.caffemodel`.
public final class DistributedTrainer {
    public let solver: Solver
    public let comm: Communicator
    public let options: DistributedOptions
    public let synchronizer: Synchronizer
    /// Receives every round's metrics (on every rank; the same values everywhere except in
    /// async-easgd).
    public var onRound: ((RoundMetrics) -> Void)?

    private let log: ((String) -> Void)?
    private let maxIter: Int
    private let imagesPerIteration: Int
    /// Whether rounds are measured (metrics file or `onRound`); decided alike on every rank.
    private var measuring: Bool { options.metricsPath != nil || onRound != nil }
    private var metricsFile: FileHandle?
    /// Whether training has ended on every rank (the synchronizer's `finish` is done).
    private(set) var finished = false
    private var failure: (rank: Int, iter: Int, mode: String)?
    lazy var stops = StopRequests(communicator: comm)
    private let cost: SimulatedCost
    private let target: AccuracyTarget?
    /// async-easgd with K > 1: rank 0's iteration is the job's.
    private(set) var schedule: AsyncSchedule?
    /// Whether the ranks run on their own clocks (async-easgd on K > 1 ranks), so no collective
    /// can be tied to an iteration.
    var asyncRanksDiverge: Bool { schedule != nil }
    /// `--round-seconds` with a collective exchange on K > 1 ranks: each rank counts its own
    /// steps within a round; at its end the ranks agree on the iteration (the highest count),
    /// stop signals, tests and snapshots.
    var roundsOnOwnClocks: Bool {
        options.roundSeconds != nil && options.sync != .gradient && synchronizer.roundsAreCollective && comm.size > 1
    }
    /// The agreed iteration at the end of the last round (own-clock rounds).
    private var agreedIter = 0
    /// A test or a snapshot is due at the agreed iteration (own-clock rounds).
    private var testPending = false
    private var snapshotPending = false
    private var startTime = 0.0
    /// This rank's local steps since `start` (in async-easgd a fast rank makes more than a slow one).
    public private(set) var localSteps = 0
    /// The current step's compute time (for `--slow-rank`).
    private var stepCompute = 0.0
    /// Set once a test reached `--target-accuracy`.
    public private(set) var reachedTarget = false

    // The current round.
    private var round = 0
    private var itersInRound = 0
    private var roundStart = 0.0
    private var mark = 0.0
    private var commSeconds = 0.0
    private var syncWaitSeconds = 0.0
    private var testSeconds = 0.0
    private var snapshotSeconds = 0.0
    private var exchangedBytes = 0.0
    private lazy var exchangedFloats = synchronizer.exchangedFloats(solver)
    private var waitAtRoundStart = 0.0
    private var lossSum = 0.0
    private var lossCount = 0
    private var lastRate: Float = 0
    /// The iteration of the last exchange that left every rank with the same weights.
    public private(set) var lastSyncIter = -1
    /// Local iterations per round: `--tau`, or `--tau auto`'s current choice.
    public private(set) var tau: Int
    private var tauAuto: TauAuto?

    /// Installs the hooks on `solver` (which every rank builds from the same prototxt). Call
    /// `start` next. `log` receives rank 0's lines (pass it on every rank; it is used on rank 0 only).
    public init(solver: Solver, options: DistributedOptions, communicator: Communicator = .world,
                log: ((String) -> Void)? = nil) throws {
        try require(options.tau > 0, "--tau must be positive, got \(options.tau)")
        if let share = options.tauAutoShare {
            try require(share > 0 && share < 1, "--tau auto:SHARE: SHARE must be more than 0 and less than 100 percent, got \(share * 100)")
            try TauSetting.requireAutoFits(sync: options.sync, roundSeconds: options.roundSeconds)
            tauAuto = TauAuto(share: share, tau: options.tau)
        }
        tau = options.tau
        if let r = options.roundSeconds { try require(r > 0, "--round-seconds must be positive, got \(r)") }
        self.solver = solver
        self.comm = communicator
        self.options = options
        self.log = communicator.isRoot ? log : nil
        synchronizer = try makeSynchronizer(options.sync, communicator: communicator, alpha: options.alpha,
                                            averageHistory: options.averageHistory,
                                            bucketElements: solver.param.layerWiseReduce ? options.bucketElements : 0)
        maxIter = Int(solver.param.maxIter)
        imagesPerIteration = Self.batchSize(of: solver.net) * Int(solver.param.iterSize)
        failure = Self.injectedFailure()
        cost = try SimulatedCost(commDelay: options.commDelay, slowRank: options.slowRank, ranks: communicator.size)
        target = try options.targetAccuracy.map { try AccuracyTarget($0, solver: solver) }

        solver.log = self.log
        solver.writesFiles = communicator.isRoot
        solver.gradientHook = { [unowned self] s in try self.beforeUpdate(s) }
        solver.afterUpdateHook = { [unowned self] s in try self.afterUpdate(s) }
        solver.testReducer = { [unowned self] values in self.reduceTest(values) }
        solver.snapshotHook = { [unowned self] s, base in try self.saveRankState(s, base: base) }
        solver.testHook = { [unowned self] s, index, outputs in try self.recordTest(s, index, outputs) }
    }

    deinit { try? metricsFile?.close() }

    /// Opens the metrics file (rank 0; truncated). Call before `start`; throws if unwritable.
    public func openMetrics() throws {
        guard comm.isRoot, let path = options.metricsPath else { return }
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw SparkNetError("--metrics \(path): cannot create the file (does the directory exist and is it writable?)")
        }
        metricsFile = handle
    }

    /// Makes every rank start from the same point. A fresh run takes rank 0's weights (random
    /// from the seed, or `--weights`) and gives ranks > 0 their own generator (seed + rank) for
    /// dropout; a resumed run keeps what each rank restored. Then starts the synchronizer
    /// (`center`: a restored EASGD center, the same on every rank).
    public func start(resumed: Bool, center: [Float]? = nil) throws {
        if !resumed {
            comm.bcast(solver.net.weights, root: 0)
            if comm.rank > 0 {
                let seed = solver.param.randomSeed >= 0 ? UInt64(solver.param.randomSeed) : 1701
                solver.net.context.rng = RandomGenerator(seed: seed &+ UInt64(comm.rank))
            }
        }
        try synchronizer.start(solver, center: center)
        // Rounds stay aligned to multiples of tau across a resume (own-clock rounds have no such
        // alignment: a resumed one starts a round). `--tau auto` keeps its τ and round start in
        // the sidecar; every rank restored the same.
        itersInRound = roundsOnOwnClocks ? 0 : solver.iter % tau
        if let auto = tauAuto {
            if resumed, let t = solver.sidecarExtras[Self.tauKey].flatMap(Int.init), TauAuto.range.contains(t),
               let first = solver.sidecarExtras[Self.roundStartKey].flatMap(Int.init), first <= solver.iter {
                tau = t
                tauAuto = TauAuto(share: auto.share, tau: t, settled: true)
                itersInRound = solver.iter - first
            } else {
                itersInRound = 0
            }
            recordTauState(roundStart: solver.iter - itersInRound)
        }
        lastSyncIter = resumed ? -1 : solver.iter
        if comm.size > 1 {
            var line = "\(comm.size) ranks, --sync \(options.sync.rawValue)"
            if options.sync != .gradient { line += ", tau \(tau)" }
            if let auto = tauAuto {
                line += " (tau auto: the smallest tau whose exchange share is at most \(Self.percent(auto.share)), from measurements\(auto.settled ? ", resumed" : ""))"
            }
            if options.sync == .easgd || options.sync == .asyncEASGD {
                line += ", alpha \(options.alpha ?? 0.9 / Double(comm.size))"
            }
            if let t = options.roundSeconds { line += ", round-seconds \(t)" }
            if options.averageHistory { line += ", averaging history" }
            log?(line + cost.summary + "; batch_size is per rank (global batch \(imagesPerIteration * comm.size))")
        } else if !cost.summary.isEmpty {
            log?("Simulated" + cost.summary.dropFirst())
        }
        if let t = target { log?("Stopping at the first test with \(t.name) >= \(t.value)") }
        // A run resumed at max_iter (a finished job requeued) takes no step, so rank 0 would
        // never post the end: every rank restored the same iteration and ends like the
        // collective modes, without the board.
        if options.sync == .asyncEASGD && comm.size > 1 && schedule == nil && solver.iter < maxIter {
            let board = try AsyncSchedule(comm)
            schedule = board
            solver.testDue = { [unowned self] s in self.asyncTestDue(s) }
            if board.leads { solver.net.afterLayer = { [unowned board] in board.progress() } }
        }
        if roundsOnOwnClocks {
            agreedIter = solver.iter
            let interval = Int(solver.param.testInterval)
            testPending = interval > 0 && solver.iter % interval == 0 && (solver.iter > 0 || solver.param.testInitialization)
            solver.testDue = { [unowned self] _ in
                defer { self.testPending = false }
                return self.testPending
            }
            solver.snapshotDue = { [unowned self] _ in
                defer { self.snapshotPending = false }
                return self.snapshotPending
            }
        }
        startTime = now()
        resetRound()
    }

    /// Own-clock rounds, at a round's end on every rank: the job's iteration becomes the highest
    /// rank's (slower ranks skip ahead), and a test or snapshot whose interval was passed in the
    /// round becomes due right after the exchange. The agreement also waits for the slowest
    /// rank: counted as waiting.
    private func agreeOnIteration(_ s: Solver) {
        phase("the iteration agreement after a round of \(itersInRound) steps at iteration \(s.iter)")
        let t0 = now()
        let common = comm.allreduce(s.iter, .max)
        syncWaitSeconds += now() - t0
        s.adoptIteration(common)
        func passed(_ every: Int32) -> Bool { every > 0 && common / Int(every) > agreedIter / Int(every) }
        testPending = passed(s.param.testInterval)
        snapshotPending = passed(s.param.snapshot)
        agreedIter = common
    }

    /// Caffe's Solve on every rank (the last round ends at max_iter, or training stops at
    /// `--target-accuracy`), then logs every rank's local step count.
    public func solve() throws {
        if let schedule, !schedule.leads {
            // Steps until rank 0 says training has ended (see AsyncSchedule).
            try solver.solve(maxIter: Int(Int32.max))
        } else {
            try solver.solve()
        }
        if !finished {
            // Stopped early at the target accuracy: the same test, so the same iteration, everywhere.
            finished = true
            try synchronizer.finish(solver)
        }
        if let schedule {
            if !schedule.leads {
                solver.adoptIteration(schedule.rootIteration)
                // Rank 0 ended normally: mirror the final test its solve() ran.
                let interval = Int(solver.param.testInterval)
                if !reachedTarget && interval > 0 && solver.iter % interval == 0 { try solver.testAll() }
            }
            solver.requestedEarlyExit = reachedTarget
            endAsyncSchedule()
        }
        let steps = comm.allgather(UInt64(localSteps)).map(Int.init)
        log?("Local steps per rank: " + steps.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: ", "))
        writeMetrics("{\"local_steps\": [\(steps.map(String.init).joined(separator: ", "))], \"wall_s\": \(now() - startTime)}")
    }

    /// Collective: frees async-easgd's board once training has ended.
    func endAsyncSchedule() {
        solver.net.afterLayer = nil
        schedule?.free()
        schedule = nil
    }

    /// `iterations` solver steps on every rank.
    public func step(_ iterations: Int) throws { try solver.step(iterations) }

    // MARK: Test sharding

    /// Each rank tests on its own shard of the test set, so it runs ⌈test_iter / K⌉ of the
    /// test_iter batches. When test_iter·batch_size covers the test set and batch_size divides
    /// each shard, the K ranks together see every test sample exactly once, as one rank does.
    public static func shardTestIterations(_ param: inout Caffe_SolverParameter, ranks: Int) {
        guard ranks > 1 else { return }
        param.testIter = param.testIter.map { Int32((Int($0) + ranks - 1) / ranks) }
    }

    /// Sums test values over ranks; the solver divides the summed outputs by the summed batch
    /// counts, which weights every test sample equally.
    private func reduceTest(_ values: [Double]) -> [Double] {
        phase("the test at iteration \(solver.iter)")
        testSeconds += now() - mark
        let t0 = now()
        let all = comm.allreduce(values, .sum)
        let t1 = now()
        testSeconds += t1 - t0
        mark = t1
        return all
    }

    // MARK: Rounds

    private func beforeUpdate(_ s: Solver) throws {
        lossSum += Double(s.net.currentLoss)
        lossCount += 1
        lastRate = s.learningRate
        if options.sync == .gradient {
            phase("the gradient exchange of iteration \(s.iter)")
            stepCompute += now() - mark
            waitForSlowestRank()
            let t0 = now()
            try synchronizer.beforeUpdate(s)
            exchangedBytes += Double(exchangedFloats.perIteration * MemoryLayout<Float>.stride)
            cost.delayExchange()
            mark = now()
            commSeconds += mark - t0
        }
        // The same test afterUpdate makes, one update ahead. A round that ends on time is not
        // known here; its endRound finds no prescale and scales itself. On own clocks one rank
        // may end its round by count and another on time: a prescaled rank's w/K and another's
        // w in one sum would be wrong, so there no rank prescales.
        if !roundsOnOwnClocks && roundEndsByCount(iterations: itersInRound + 1, iter: s.iter + 1) {
            synchronizer.prepareRoundEnd(s)
        }
    }

    /// Whether a round ends after `iterations` of it, at `iter`, whatever the clock says.
    private func roundEndsByCount(iterations: Int, iter: Int) -> Bool {
        iterations >= tau || iter >= maxIter
    }

    private func afterUpdate(_ s: Solver) throws {
        try injectFailureIfDue(s.iter)
        cost.slowDown(rank: comm.rank, stepSeconds: stepCompute + now() - mark)
        stepCompute = 0
        localSteps += 1
        itersInRound += 1
        // In async-easgd only rank 0 ends training, at max_iter or on a stop signal from any
        // rank (relayed on the board); the others when it has.
        let follows = schedule.map { !$0.leads } ?? false
        if let schedule { relayAsyncSignals(schedule) }
        schedule?.refresh()
        let signalled = !follows && s.iter < maxIter ? schedule?.stopRequested ?? 0 : 0
        var stopping = follows ? schedule!.stopped : s.iter >= maxIter || signalled != 0
        var end = itersInRound >= tau || stopping
        if roundsOnOwnClocks {
            if !end, let limit = options.roundSeconds { end = now() - roundStart >= limit }
            if end {
                agreeOnIteration(s)
                stopping = s.iter >= maxIter
            }
        } else if !end, let limit = options.roundSeconds, options.sync != .gradient {
            let expired = now() - roundStart >= limit
            if synchronizer.roundsAreCollective && comm.size > 1 {
                // Every rank must enter the exchange together: one rank's clock decides for all.
                // The flag's allreduce also waits for the slowest rank: count it as waiting.
                phase("the --round-seconds check after iteration \(s.iter)")
                let t0 = now()
                end = comm.allreduce(expired ? 1 : 0, .max) == 1
                syncWaitSeconds += now() - t0
            } else {
                end = expired
            }
        }
        if end {
            phase("the \(options.sync.rawValue) exchange after iteration \(s.iter)")
            waitForSlowestRank()
            let t0 = now()
            try synchronizer.endRound(s)
            exchangedBytes += Double(exchangedFloats.perRound * MemoryLayout<Float>.stride)
            cost.delayExchange()
            commSeconds += now() - t0
            if synchronizer.syncsWeights {
                lastSyncIter = s.iter
                if options.verifySync { try verifyWeightsAgree(s) }
            }
            try finishRound(s)
            if stopping && !finished {
                finished = true
                if let schedule {
                    if schedule.leads {
                        schedule.postStop(iteration: s.iter, signal: signalled)
                    } else {
                        s.adoptIteration(schedule.rootIteration)
                        s.requestedEarlyExit = true
                    }
                }
                try synchronizer.finish(s)
                if synchronizer.hasCenter {
                    lastSyncIter = s.iter
                    if options.verifySync { try verifyWeightsAgree(s) }
                }
            }
        }
        // Own-clock rounds meet only at round ends: signals are agreed there, at once.
        if !roundsOnOwnClocks || end {
            let waited = stops.waitSeconds
            try actOnSignals(s, last: s.iter >= maxIter)
            syncWaitSeconds += stops.waitSeconds - waited
        }
        mark = now()
    }

    /// When measuring a collective exchange, a barrier first, so that `comm_s` is the exchange
    /// alone and the time the faster ranks wait for the slowest shows as `sync_wait_s`. Not
    /// in gradient mode's overlap: how many of its segments a rank has posted when backward ends
    /// depends on how fast they completed, and MPI needs every rank to post the collectives of
    /// a communicator in one order, so no other collective may come between them (there the
    /// wait for the slowest rank is part of `comm_s`).
    private func waitForSlowestRank() {
        guard measuring, synchronizer.roundsAreCollective, comm.size > 1 else { return }
        if let g = synchronizer as? GradientAverage, g.overlap != nil { return }
        let t0 = now()
        comm.barrier()
        syncWaitSeconds += now() - t0
    }

    private func resetRound() {
        itersInRound = itersInRound % tau
        roundStart = now()
        mark = roundStart
        commSeconds = 0
        syncWaitSeconds = 0
        testSeconds = 0
        snapshotSeconds = 0
        exchangedBytes = 0
        lossSum = 0
        lossCount = 0
        waitAtRoundStart = dataWaitSeconds()
    }

    private func finishRound(_ s: Solver) throws {
        round += 1
        // The same decision on every rank: the reductions below are collectives.
        if measuring {
            let roundS = now() - roundStart
            let wait = dataWaitSeconds() - waitAtRoundStart
            let compute = max(0, roundS - commSeconds - syncWaitSeconds - testSeconds - snapshotSeconds)
            var times = [roundS, compute, commSeconds, wait, testSeconds, snapshotSeconds, syncWaitSeconds]
            var sums = [lossCount > 0 ? lossSum / Double(lossCount) : 0, Double(itersInRound * imagesPerIteration)]
            var reporting = 1
            if synchronizer.roundsAreCollective && comm.size > 1 {
                // The round lasts as long as its slowest rank; its parts are the mean rank's, so
                // that they add up (a slow rank's compute and a fast rank's waiting are both real,
                // but not in the same rank).
                let round = comm.allreduce([times[0]], .max)[0]
                let n = times.count
                let summed = comm.allreduce(times + sums, .sum)   // one collective for both
                times = summed[..<n].map { $0 / Double(comm.size) }
                times[0] = round
                sums = Array(summed[n...])
                reporting = comm.size
            } else {
                sums[1] *= Double(comm.size)   // async: this rank's rate, times K
            }
            let m = RoundMetrics(
                round: round, iteration: s.iter, iterations: itersInRound,
                loss: sums[0] / Double(reporting), lr: Double(lastRate),
                roundSeconds: times[0], computeSeconds: times[1], commSeconds: times[2], syncWaitSeconds: times[6],
                dataWaitSeconds: times[3], testSeconds: times[4], snapshotSeconds: times[5],
                imagesPerSecond: times[0] > 0 ? sums[1] / times[0] : 0,
                ranks: comm.size, ranksReporting: reporting, wallSeconds: now() - startTime,
                exchangedBytes: exchangedBytes, tau: options.sync == .gradient ? nil : tau, extraJSON: cost.jsonFields)
            onRound?(m)
            writeMetrics(m.json)
        }
        if tauAuto != nil {
            // Waiting for the slowest rank stays in: the share is of the round as it runs.
            let own = now() - roundStart - commSeconds - testSeconds - snapshotSeconds
            adjustTau(s, computeSeconds: max(0, own), steps: itersInRound)
            recordTauState(roundStart: s.iter)
        }
        itersInRound = 0
        resetRound()
    }

    // MARK: --tau auto

    static let tauKey = "tau"
    static let roundStartKey = "tau_round_start"

    /// Keeps τ and the current round's first iteration in the resume sidecar.
    private func recordTauState(roundStart: Int) {
        solver.sidecarExtras[Self.tauKey] = String(tau)
        solver.sidecarExtras[Self.roundStartKey] = String(roundStart)
    }

    static func percent(_ share: Double) -> String { String(format: "%g%%", share * 100) }

    /// At a round's end: one small collective agrees on the round's C (the round's time per step
    /// outside the exchange, tests and snapshots, on the rank where it was longest: waiting for
    /// a slower rank counts, as it lengthens the round) and S (the exchange alone: the rank that
    /// arrived last waited for no one, so the smallest comm time), and every rank feeds them to
    /// the same `TauAuto`.
    private func adjustTau(_ s: Solver, computeSeconds: Double, steps: Int) {
        guard var auto = tauAuto, steps > 0 else { return }
        var values = [computeSeconds / Double(steps), -commSeconds]
        if comm.size > 1 { values = comm.allreduce(values, .max) }
        let decision = auto.record(computePerStep: values[0], exchange: -values[1])
        tauAuto = auto
        guard let d = decision else { return }
        tau = d.to
        if d.changed || round <= auto.firstWindow + 1 {
            log?(String(format: "tau auto: C = %.4g ms, S = %.4g ms, tau %d -> %d (predicted exchange share %.2f%%, target %@)",
                        d.compute * 1e3, d.exchange * 1e3, d.from, d.to, d.predictedShare * 100, Self.percent(auto.share)))
        }
        writeMetrics(String(format: "{\"tau_auto\": %d, \"tau_from\": %d, \"iteration\": %d, \"round\": %d, \"compute_step_s\": %.6g, \"exchange_s\": %.6g, \"predicted_share\": %.6g, \"target_share\": %.6g}",
                            d.to, d.from, s.iter, round, d.compute, d.exchange, d.predictedShare, auto.share))
    }

    private func writeMetrics(_ line: String) {
        metricsFile?.write(Data((line + "\n").utf8))
    }

    // MARK: Tests and the target accuracy

    /// async-easgd: rank 0 tests every test_interval and posts it; the others join when posted.
    private func asyncTestDue(_ s: Solver) -> Bool {
        guard let schedule else { return false }
        if schedule.leads {
            let interval = Int(s.param.testInterval)
            let due = interval > 0 && s.iter % interval == 0 && (s.iter > 0 || s.param.testInitialization)
            if due { schedule.postTest(iteration: s.iter) }
            return due
        }
        schedule.refresh()
        return schedule.takeTest()
    }

    /// A metrics line per test, and the stop at `--target-accuracy` (test outputs are summed
    /// across ranks, so every rank decides alike).
    private func recordTest(_ s: Solver, _ index: Int, _ outputs: [(name: String, value: Float)]) throws {
        let iteration = schedule.map { $0.leads ? s.iter : $0.rootIteration } ?? s.iter
        let wall = now() - startTime
        let fields = outputs.map { "\"\($0.name)\": \(Double($0.value))" }.joined(separator: ", ")
        writeMetrics("{\"test\": \(index), \"iteration\": \(iteration), \"round\": \(round), \"wall_s\": \(wall)"
            + (fields.isEmpty ? "" : ", " + fields) + "}")
        guard index == 0, let target, !reachedTarget, target.output < outputs.count,
              Double(outputs[target.output].value) >= target.value else { return }
        reachedTarget = true
        s.requestedEarlyExit = true
        if let schedule, !schedule.leads { s.adoptIteration(schedule.rootIteration) }
        log?("Target \(target.name) \(target.value) reached at iteration \(iteration), round \(round), \(String(format: "%.3f", wall)) s")
        writeMetrics("{\"target\": \(target.value), \"reached\": true, \"iteration\": \(iteration), \"round\": \(round), \"wall_s\": \(wall)}")
    }

    /// Fails unless every rank holds bit-identical weights.
    private func verifyWeightsAgree(_ s: Solver) throws {
        let hashes = comm.allgather(Self.fnv1a(UnsafeRawBufferPointer(s.net.weights)))
        let differ = hashes.indices.filter { hashes[$0] != hashes[0] }
        try require(differ.isEmpty,
                    "weights differ across ranks after the exchange at iteration \(s.iter): ranks \(differ.map(String.init).joined(separator: ", ")) differ from rank 0")
    }

    /// FNV-1a, 64 bits.
    public static func fnv1a(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = seed
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    private func dataWaitSeconds() -> Double {
        solver.net.layers.reduce(0) { $0 + (($1 as? DataLayer)?.source?.waitSeconds ?? 0) }
    }

    /// Samples one forward pass of `net` consumes (the first data layer's batch).
    public static func batchSize(of net: Net) -> Int {
        for (l, layer) in net.layers.enumerated() where layer is DataLayer {
            if let top = net.tops[l].first, let n = top.shape.first { return n }
        }
        return net.blobs.first?.shape.first ?? 0
    }

    private func now() -> Double { ProcessInfo.processInfo.systemUptime }

    // MARK: Snapshots

    /// `<base>.solverstate.rank<r>`, where rank r > 0 keeps its own state.
    public static func rankStatePath(_ statePath: String, rank: Int) -> String { "\(statePath).rank\(rank)" }

    /// `<base>.center.caffemodel`, the EASGD center beside a snapshot.
    public static func centerPath(forState statePath: String) -> String {
        let base = statePath.hasSuffix(".solverstate") ? String(statePath.dropLast(".solverstate".count)) : statePath
        return base + ".center.caffemodel"
    }

    private func saveRankState(_ s: Solver, base: String) throws {
        snapshotSeconds += now() - mark   // rank 0's own snapshot, written just before
        defer {
            let t = now()
            snapshotSeconds += t - mark
            mark = t
        }
        mark = now()
        if comm.rank > 0 {
            let state = Self.rankStatePath(base + ".solverstate", rank: comm.rank)
            var model = base + ".caffemodel"
            let inSync = options.sync == .gradient || lastSyncIter == s.iter
            if !inSync {
                model = base + ".caffemodel.rank\(comm.rank)"
                try CaffeModel.write(s.net, to: model)
            } else {
                // One left by an earlier snapshot of this iteration on this rank's own clock
                // (async-easgd) would be sealed into this set, which does not use it.
                try? FileManager.default.removeItem(atPath: base + ".caffemodel.rank\(comm.rank)")
            }
            try s.makeSidecar().write(to: SolverSidecar.path(forState: state))
            try SolverStateFile.write(s.makeSolverState(learnedNet: model), to: state)
        } else if synchronizer.hasCenter, let center = synchronizer.copyCenter() {
            try withWeights(center, of: s.net) {
                try CaffeModel.write(s.net, to: Self.centerPath(forState: base + ".solverstate"))
            }
        }
        // async-easgd on K > 1 ranks: each rank snapshots on its own clock mid-run, so only the
        // final snapshot (every rank at rank 0's iteration, at max_iter or on a stop signal) is a
        // set the ranks seal together.
        if schedule == nil || finished || s.requestedEarlyExit {
            try sealSnapshot(base: base, iteration: s.iter)
        }
    }

    /// Runs `body` with `values` in the net's weight arena, then puts the weights back.
    func withWeights(_ values: [Float], of net: Net, _ body: () throws -> Void) throws {
        let w = net.weights
        let saved = Array(w)
        values.withUnsafeBufferPointer { copy(w.count, $0.baseAddress!, w.baseAddress!) }
        defer { saved.withUnsafeBufferPointer { copy(w.count, $0.baseAddress!, w.baseAddress!) } }
        try body()
    }

    /// The center saved beside `statePath`, read into the net's layout; nil if absent.
    public func readCenter(forState statePath: String) throws -> [Float]? {
        let path = Self.centerPath(forState: statePath)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let model = try CaffeModel.read(path)
        var center: [Float] = []
        try withWeights(Array(solver.net.weights), of: solver.net) {
            try solver.net.copyTrainedLayers(from: model, source: path)
            center = Array(solver.net.weights)
        }
        return center
    }

    /// Restores this rank's state from a snapshot: rank 0 from `statePath`, rank r > 0 from
    /// its `<statePath>.rank<r>` when present, else from rank 0's. Returns the saved EASGD
    /// center on rank 0 (nil elsewhere). Not collective; `restore(from:)` wraps it.
    public func restoreLocal(from statePath: String) throws -> [Float]? {
        let mine = Self.rankStatePath(statePath, rank: comm.rank)
        let usesOwn = comm.rank > 0 && FileManager.default.fileExists(atPath: mine)
        try solver.restore(from: usesOwn ? mine : statePath)
        if comm.isRoot && synchronizer.hasCenter {
            return try readCenter(forState: statePath)
        }
        return nil
    }

    /// Collective: reports how many ranks found their own state, and shares rank 0's `center`.
    public func shareRestoredState(snapshot statePath: String, center: [Float]?, perRank: Bool = true) -> [Float]? {
        if comm.size > 1 && perRank {
            let found = comm.rank > 0 && FileManager.default.fileExists(atPath: Self.rankStatePath(statePath, rank: comm.rank))
            let own = comm.allreduce(found ? 1 : 0)
            if own < comm.size - 1 {
                log?("Per-rank state found for \(own) of the other \(comm.size - 1) ranks; the rest resume from rank 0's state")
            }
        }
        guard synchronizer.hasCenter else { return nil }
        let bytes = comm.bcast(center.map { c in c.withUnsafeBytes { Array($0) } } ?? [], root: 0)
        return bytes.isEmpty ? nil : bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Collective: restores every rank's state from a snapshot written by a run with the same
    /// number of ranks and starts the synchronizer, so training continues bit for bit.
    public func restore(from statePath: String) throws {
        let center = try restoreLocal(from: statePath)
        try start(resumed: true, center: shareRestoredState(snapshot: statePath, center: center))
    }

    // MARK: Fault injection (tests)

    /// SPARKNET_FAIL_RANK=r SPARKNET_FAIL_ITER=n [SPARKNET_FAIL_MODE=error|exit|kill|stall|sigstop]:
    /// rank r fails after update n (throws an error, exits without MPI cleanup, is killed,
    /// sleeps forever, or stops itself with SIGSTOP).
    static func injectedFailure() -> (rank: Int, iter: Int, mode: String)? {
        let env = ProcessInfo.processInfo.environment
        guard let r = env["SPARKNET_FAIL_RANK"].flatMap(Int.init),
              let i = env["SPARKNET_FAIL_ITER"].flatMap(Int.init) else { return nil }
        return (r, i, env["SPARKNET_FAIL_MODE"] ?? "error")
    }

    private func injectFailureIfDue(_ iter: Int) throws {
        guard let f = failure, f.rank == comm.rank, f.iter == iter else { return }
        switch f.mode {
        case "exit":
            fflush(nil)
            _exit(3)
        case "kill":
            fflush(nil)
            kill(getpid(), SIGKILL)
        case "stall":
            while true { sleep(3600) }
        case "sigstop":
            fflush(nil)
            kill(getpid(), SIGSTOP)
        default:
            throw SparkNetError("injected failure at iteration \(iter) (SPARKNET_FAIL_RANK=\(f.rank))")
        }
    }
}
