import Foundation
import SparkNet

/// `train --tau N` or `--tau auto[:SHARE]`.
public enum TauSetting: Equatable, Sendable {
    case fixed(Int)
    /// Choose τ from measurements so that the exchange takes at most `share` (a fraction) of a round.
    case auto(share: Double)

    /// Parses the flag: a positive integer, `auto` (5 %) or `auto:SHARE` with SHARE in percent.
    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let n = Int(t) {
            try require(n > 0, "--tau must be positive (a number of iterations, or auto[:SHARE]), got \(t)")
            self = .fixed(n)
            return
        }
        let parts = t.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.first?.lowercased() == "auto" else {
            throw SparkNetError("--tau must be positive (a number of iterations) or auto[:SHARE] (SHARE: the communication share in percent, e.g. auto:5), got '\(t)'")
        }
        guard parts.count == 2 else {
            self = .auto(share: TauAuto.defaultShare)
            return
        }
        let digits = parts[1].hasSuffix("%") ? parts[1].dropLast() : parts[1]
        guard let percent = Double(digits), percent.isFinite, percent > 0, percent < 100 else {
            throw SparkNetError("--tau \(t): SHARE is the communication share of a round in percent, more than 0 and less than 100 (e.g. auto:5), got '\(parts[1])'")
        }
        self = .auto(share: percent / 100)
    }

    /// `--tau auto` decides how many local steps a round has: it needs a mode with rounds that
    /// end together, and no `--round-seconds`, which decides the same.
    public static func requireAutoFits(sync: SyncMode, roundSeconds: Double?) throws {
        try require([.average, .master, .easgd].contains(sync),
                    "--tau auto needs --sync average, master or easgd (gradient exchanges every step; async-easgd has no common round end), got --sync \(sync.rawValue)")
        try require(roundSeconds == nil, "--tau auto and --round-seconds both decide when rounds end; give one of them")
    }

    /// τ of the first round.
    public var initialTau: Int {
        switch self {
        case .fixed(let n): return n
        case .auto: return TauAuto.startTau
        }
    }
}

/// `--tau auto`: measures C (one local step's compute on the slowest rank) and S (one exchange)
/// at round ends and keeps τ at the smallest value whose communication share S/(τ·C + S) is at
/// most `aim`·`share`, within [1, 1000]. The aim below the target is there because steps jitter
/// by ±20 % on shared machines (and the first, short rounds measure them slower): aimed at the
/// target itself, the share measured round by round would sit on it, half the rounds above.
///
/// The first round is not measured (first exchanges set up connections, first steps allocate).
/// After `firstWindow` measured rounds τ jumps to its value; a second window as short checks it
/// on rounds of that length (short rounds measure a step a little slower: the steps right after
/// an exchange start with cold caches); after that every `window` rounds it is re-measured. Once
/// set, τ moves at most a factor of 2 per change, and only when the share would exceed the
/// target or τ could shrink by more than a quarter, so noise does not make it wander.
/// C is the window's median step, S its mean exchange (a slow exchange counts, as it does in the
/// share). Every rank feeds it the same agreed values, so every rank
/// makes the same choice.
public struct TauAuto: Sendable {
    public static let range = 1...1000
    public static let defaultShare = 0.05
    public static let startTau = 10
    /// The share τ is chosen for, as a fraction of the target.
    public static let aim = 0.8

    /// The target share of a round spent in the exchange.
    public let share: Double
    public private(set) var tau: Int
    /// Whether τ has had its first measured value (then it moves by at most 2× per change).
    public private(set) var settled: Bool
    public let firstWindow: Int
    public let window: Int
    private var warmedUp = false
    private var windows = 0
    private var compute: [Double] = []
    private var exchange: [Double] = []

    /// A decision at the end of a window.
    public struct Decision: Sendable, Equatable {
        public var from: Int
        public var to: Int
        /// The window's C (seconds per step) and S (seconds per exchange).
        public var compute: Double
        public var exchange: Double
        /// S / (τ·C + S) at the new τ.
        public var predictedShare: Double
        public var changed: Bool { from != to }
    }

    /// A resumed τ is `settled` (it moves by at most 2×) and is next checked after a full `window`.
    public init(share: Double, tau: Int = TauAuto.startTau, settled: Bool = false, firstWindow: Int = 3, window: Int = 10) {
        self.share = share
        self.tau = min(max(tau, Self.range.lowerBound), Self.range.upperBound)
        self.settled = settled
        self.firstWindow = firstWindow
        self.window = window
        windows = settled ? 2 : 0
    }

    /// The smallest τ in [1, 1000] with S/(τ·C + S) ≤ share: τ ≥ S(1 − share)/(share·C).
    public static func smallestTau(compute c: Double, exchange s: Double, share: Double) -> Int {
        guard s > 0 else { return range.lowerBound }
        guard c > 0 else { return range.upperBound }
        let bound = s * (1 - share) / (share * c)
        guard bound.isFinite, bound < Double(range.upperBound) else { return range.upperBound }
        // The product can land a hair above an exact integer bound; that integer is still enough.
        let tau = Int((bound * (1 - 1e-12)).rounded(.up))
        return min(max(tau, range.lowerBound), range.upperBound)
    }

    /// The τ auto picks for a step of `compute` seconds and an exchange of `exchange` seconds.
    public static func choose(compute: Double, exchange: Double, share: Double) -> Int {
        smallestTau(compute: compute, exchange: exchange, share: share * aim)
    }

    /// Records one round's agreed C per step and S; at the end of a window returns the decision
    /// (applied to `tau`).
    public mutating func record(computePerStep c: Double, exchange s: Double) -> Decision? {
        guard warmedUp else {
            warmedUp = true
            return nil
        }
        guard c.isFinite, s.isFinite, c >= 0, s >= 0 else { return nil }
        compute.append(c)
        exchange.append(s)
        guard compute.count >= (windows < 2 ? firstWindow : window) else { return nil }
        windows += 1
        let sorted = compute.sorted()
        let c = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let meanS = exchange.reduce(0, +) / Double(exchange.count)
        compute.removeAll()
        exchange.removeAll()
        let best = Self.choose(compute: c, exchange: meanS, share: share)
        var next = best
        if settled {
            next = min(max(best, max(1, tau / 2)), tau * 2)
            // Keep τ when it meets the target and the better one is within a quarter of it.
            if best <= tau && Double(best) >= 0.75 * Double(tau) { next = tau }
        }
        next = min(max(next, Self.range.lowerBound), Self.range.upperBound)
        let decision = Decision(from: tau, to: next, compute: c, exchange: meanS,
                                predictedShare: meanS > 0 ? meanS / (Double(next) * c + meanS) : 0)
        tau = next
        settled = true
        return decision
    }
}
