import Foundation

/// SparkNet's cost model (Moritz et al. 2015, §3): a round of model averaging is τ local steps
/// and one exchange, T = τ·C + S; per-step gradient averaging is T = C + S every step. C is one
/// local step's compute (measured), S one exchange of the parameters over the link:
///
///     S = 2(K − 1)/K · bytes / (efficiency · R)  +  2(K − 1) · latency
///
/// a ring allreduce (reduce-scatter, then allgather) moves 2(K − 1)/K of the buffer through each
/// node's link in 2(K − 1) steps, each paying one hop's latency. `efficiency` is the share of the
/// link's rate left for payload (TCP/IP and Ethernet headers: 1448 of 1514 bytes per frame).
/// Used by `--tau auto` (the smallest τ that keeps the share of S at most a target) and by
/// `sparknet-mpi plan` (predictions per K and mode). Pure arithmetic: no MPI, no clock.
public struct ScalingModel: Sendable, Equatable {
    /// Seconds of one local step (forward, backward, update) on one rank.
    public var computeSeconds: Double
    /// Bytes one exchange moves (the parameters, 4 B each).
    public var bytes: Double
    /// Images one rank processes per step (its batch).
    public var batch: Int
    /// The link's rate in bits per second.
    public var linkBitsPerSecond: Double
    /// One hop's latency in seconds.
    public var latencySeconds: Double
    /// The share of the link's rate that carries payload.
    public var efficiency: Double

    /// Payload per frame on TCP over Ethernet (1448 of 1514 bytes); the emulated cluster's
    /// links measured 91–93 % of their rate at 10–100 Mbit/s (docs/experiments/cluster.md).
    public static let tcpEfficiency = 1448.0 / 1514.0

    public init(computeSeconds: Double, bytes: Double, batch: Int, linkBitsPerSecond: Double,
                latencySeconds: Double = 0, efficiency: Double = ScalingModel.tcpEfficiency) {
        self.computeSeconds = computeSeconds
        self.bytes = bytes
        self.batch = batch
        self.linkBitsPerSecond = linkBitsPerSecond
        self.latencySeconds = latencySeconds
        self.efficiency = efficiency
    }

    /// Seconds of one ring allreduce of `bytes` on `ranks` nodes (0 on one node).
    public func exchangeSeconds(ranks: Int) -> Double {
        guard ranks > 1 else { return 0 }
        let k = Double(ranks)
        return 2 * (k - 1) / k * bytes * 8 / (efficiency * linkBitsPerSecond) + 2 * (k - 1) * latencySeconds
    }

    /// One prediction: a round of `tau` steps (gradient mode: tau = 1, an exchange per step).
    public struct Prediction: Sendable, Equatable {
        public var ranks: Int
        public var tau: Int
        /// τ·C + S.
        public var roundSeconds: Double
        /// S / (τ·C + S).
        public var commShare: Double
        /// K·τ·batch / round, all ranks together.
        public var imagesPerSecond: Double
        /// Images/s over K times one rank's images/s alone (= τ·C / (τ·C + S)).
        public var efficiency: Double
    }

    /// The round of `tau` local steps and one exchange on `ranks` nodes.
    public func predict(ranks: Int, tau: Int) -> Prediction {
        let s = exchangeSeconds(ranks: ranks)
        let compute = Double(tau) * computeSeconds
        let round = compute + s
        return Prediction(ranks: ranks, tau: tau, roundSeconds: round, commShare: round > 0 ? s / round : 0,
                          imagesPerSecond: round > 0 ? Double(ranks * tau * batch) / round : 0,
                          efficiency: round > 0 ? compute / round : 1)
    }

    /// The τ `--tau auto:share` picks on `ranks` nodes.
    public func autoTau(ranks: Int, share: Double) -> Int {
        TauAuto.choose(compute: computeSeconds, exchange: exchangeSeconds(ranks: ranks), share: share)
    }
}
