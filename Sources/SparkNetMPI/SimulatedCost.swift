import Foundation
import SparkNet

/// Simulated costs for experiments (`train --comm-delay S --slow-rank R:F`): a slow network and
/// an unequal worker, by sleeping. Neither touches the numerics: the same seed gives the same
/// weights with or without them (only `--round-seconds`, which reads the clock, can differ).
public struct SimulatedCost: Sendable {
    /// Seconds of sleep added to every exchange, on every rank, inside the measured
    /// communication time (the paper's S).
    public let commDelay: Double
    /// The rank whose local steps are `slowFactor` times slower (nil: none).
    public let slowRank: Int?
    /// After each local step, rank `slowRank` sleeps (factor − 1) times the step's own time.
    public let slowFactor: Double

    /// Checks the flags against the job's `ranks`; `slowRank` is "R:F" (rank R, factor F ≥ 1).
    public init(commDelay: Double = 0, slowRank spec: String? = nil, ranks: Int) throws {
        try require(commDelay.isFinite && commDelay >= 0,
                    "--comm-delay must be a non-negative number of seconds, got \(commDelay)")
        self.commDelay = commDelay
        guard let spec else {
            slowRank = nil
            slowFactor = 1
            return
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let r = Int(parts[0]), let f = Double(parts[1]) else {
            throw SparkNetError("--slow-rank \(spec): expected RANK:FACTOR, e.g. 3:3 (rank 3 three times slower)")
        }
        try require(r >= 0 && r < ranks,
                    "--slow-rank \(spec): rank \(r) does not exist (the job has \(ranks) rank\(ranks == 1 ? "" : "s"), 0 to \(ranks - 1))")
        try require(f.isFinite && f >= 1, "--slow-rank \(spec): the factor must be a number ≥ 1, got \(parts[1])")
        slowRank = r
        slowFactor = f
    }

    /// Sleeps for the simulated exchange cost.
    func delayExchange() {
        if commDelay > 0 { sleep(seconds: commDelay) }
    }

    /// Sleeps on the slow rank so that a step that took `stepSeconds` takes `slowFactor` times as long.
    func slowDown(rank: Int, stepSeconds: Double) {
        guard rank == slowRank, slowFactor > 1, stepSeconds > 0 else { return }
        sleep(seconds: (slowFactor - 1) * stepSeconds)
    }

    private func sleep(seconds: Double) {
        var left = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var rest = timespec()
        while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
    }

    /// For the start-up log line: "" when nothing is simulated.
    var summary: String {
        var s = ""
        if commDelay > 0 { s += ", comm-delay \(commDelay) s" }
        if let r = slowRank { s += ", rank \(r) \(slowFactor)x slower" }
        return s
    }

    /// The fields every metrics line carries.
    var jsonFields: String {
        "\"comm_delay_s\": \(commDelay), \"slow_rank\": \(slowRank.map(String.init) ?? "null"), \"slow_factor\": \(slowFactor)"
    }
}

/// `--target-accuracy A`: the test output that decides, and the check of A.
struct AccuracyTarget {
    let value: Double
    /// The index of the output in the first test net's results.
    let output: Int
    let name: String

    init(_ value: Double, solver: Solver) throws {
        try require(value.isFinite && value > 0 && value <= 1,
                    "--target-accuracy must be in (0, 1], got \(value)")
        guard let net = solver.testNets.first else {
            throw SparkNetError("--target-accuracy needs a test net (the solver has none: add test_iter, test_interval and a TEST phase)")
        }
        var names: [String] = []
        for b in net.outputBlobIndices {
            let n = net.blobNames[b]
            names += net.blobs[b].count == 1 ? [n] : (0..<net.blobs[b].count).map { "\(n)[\($0)]" }
        }
        guard let i = names.firstIndex(of: "accuracy") ?? names.firstIndex(where: { $0.contains("accuracy") }) else {
            throw SparkNetError("--target-accuracy: the test net has no accuracy output (its outputs: \(names.joined(separator: ", ")))")
        }
        try require(solver.param.testInterval > 0, "--target-accuracy needs test_interval > 0 in the solver")
        self.value = value
        output = i
        name = names[i]
    }
}
