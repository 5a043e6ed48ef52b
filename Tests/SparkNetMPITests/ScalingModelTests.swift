import Foundation
import SparkNet
@testable import SparkNetMPI
import Testing

/// SparkNet's cost model (`ScalingModel`), `--tau auto`'s choice (`TauAuto`) and the flag's
/// parsing (`TauSetting`), as arithmetic checked by hand.
struct ScalingModelTests {
    /// A ring allreduce moves 2(K − 1)/K of the buffer over each link, in 2(K − 1) hops.
    @Test func exchangeIsRingAllreduce() {
        let m = ScalingModel(computeSeconds: 0.01, bytes: 1e6, batch: 64, linkBitsPerSecond: 1e9,
                             latencySeconds: 0, efficiency: 1)
        #expect(m.exchangeSeconds(ranks: 1) == 0)
        #expect(abs(m.exchangeSeconds(ranks: 2) - 0.008) < 1e-15)          // 2·1/2 · 8e6 bit / 1e9
        #expect(abs(m.exchangeSeconds(ranks: 4) - 0.012) < 1e-15)          // 2·3/4 · 8e6 / 1e9
        var slow = m
        slow.latencySeconds = 1e-4
        slow.efficiency = 0.5
        #expect(abs(slow.exchangeSeconds(ranks: 4) - (0.024 + 6e-4)) < 1e-15)   // payload at half rate, 6 hops
        #expect(abs(ScalingModel.tcpEfficiency - 1448.0 / 1514.0) < 1e-15)
    }

    @Test func predictionOfARound() {
        let m = ScalingModel(computeSeconds: 0.01, bytes: 1e6, batch: 64, linkBitsPerSecond: 1e9,
                             latencySeconds: 0, efficiency: 1)
        let p = m.predict(ranks: 2, tau: 10)                               // S = 8 ms, τC = 100 ms
        #expect(abs(p.roundSeconds - 0.108) < 1e-12)
        #expect(abs(p.commShare - 0.008 / 0.108) < 1e-12)
        #expect(abs(p.imagesPerSecond - 2 * 10 * 64 / 0.108) < 1e-9)
        #expect(abs(p.efficiency - 0.1 / 0.108) < 1e-12)
        let alone = m.predict(ranks: 1, tau: 1)
        #expect(alone.commShare == 0 && alone.efficiency == 1)
        #expect(abs(alone.imagesPerSecond - 6400) < 1e-9)
    }

    /// τ ≥ S(1 − p)/(p·C), the smallest integer; an exact bound is enough; [1, 1000].
    @Test func smallestTau() {
        // S = 50 ms, C = 10 ms, 5 %: 50·0.95/(0.05·10) = 95 exactly: 50/(950 + 50) = 5 %.
        #expect(TauAuto.smallestTau(compute: 0.01, exchange: 0.05, share: 0.05) == 95)
        #expect(TauAuto.smallestTau(compute: 0.01, exchange: 0.0501, share: 0.05) == 96)
        #expect(TauAuto.smallestTau(compute: 0.01, exchange: 0, share: 0.05) == 1)
        #expect(TauAuto.smallestTau(compute: 0.01, exchange: 0.0001, share: 0.05) == 1)
        #expect(TauAuto.smallestTau(compute: 0.001, exchange: 10, share: 0.05) == 1000)
        #expect(TauAuto.smallestTau(compute: 0, exchange: 0.01, share: 0.05) == 1000)
        for (c, s, p) in [(0.0123, 0.15, 0.05), (0.2, 0.0031, 0.01), (0.004, 0.0137, 0.2)] {
            let t = TauAuto.smallestTau(compute: c, exchange: s, share: p)
            #expect(s / (Double(t) * c + s) <= p + 1e-12)
            if t > 1 { #expect(s / (Double(t - 1) * c + s) > p) }
        }
        let m = ScalingModel(computeSeconds: 0.01, bytes: 1e6, batch: 64, linkBitsPerSecond: 1e9, efficiency: 1)
        // auto aims at 4/5 of the target share.
        #expect(TauAuto.choose(compute: 0.01, exchange: 0.05, share: 0.05) == TauAuto.smallestTau(compute: 0.01, exchange: 0.05, share: 0.04))
        #expect(TauAuto.choose(compute: 0.01, exchange: 0.05, share: 0.05) == 120)      // 0.05·0.96/(0.04·0.01)
        #expect(m.autoTau(ranks: 2, share: 0.05) == TauAuto.choose(compute: 0.01, exchange: 0.008, share: 0.05))
    }

    /// A warm-up round, then a first window that jumps; later windows move at most 2× and keep τ
    /// when it is within a quarter of the best and meets the target. A resumed τ is settled.
    @Test func tauAutoDecisions() {
        var auto = TauAuto(share: 0.05, tau: 5, firstWindow: 3, window: 2)
        #expect(auto.tau == 5 && !auto.settled)
        #expect(auto.record(computePerStep: 1, exchange: 100) == nil)      // warm-up: ignored
        #expect(auto.record(computePerStep: 0.012, exchange: 0.05) == nil)
        #expect(auto.record(computePerStep: 0.009, exchange: 0.05) == nil)
        let first = auto.record(computePerStep: 0.010, exchange: 0.05)     // C: the median (10 ms)
        #expect(first?.from == 5 && first?.to == 120 && first?.compute == 0.010)
        #expect(abs((first?.exchange ?? 0) - 0.05) < 1e-15)
        #expect(abs((first?.predictedShare ?? 0) - 0.05 / (120 * 0.010 + 0.05)) < 1e-12)
        #expect(auto.tau == 120 && auto.settled)
        // The link got 10× slower: the best τ is 1200, but one change doubles at most. (The second
        // window is as short as the first; later ones are `window` rounds.)
        _ = auto.record(computePerStep: 0.01, exchange: 0.5)
        _ = auto.record(computePerStep: 0.01, exchange: 0.5)
        #expect(auto.record(computePerStep: 0.01, exchange: 0.5)?.to == 240)
        // Faster again: the best is 120, halving at most.
        _ = auto.record(computePerStep: 0.01, exchange: 0.05)
        #expect(auto.record(computePerStep: 0.01, exchange: 0.05)?.to == 120)
        // Best 100 (within a quarter below 120): kept.
        _ = auto.record(computePerStep: 0.01, exchange: 0.0416)
        let kept = auto.record(computePerStep: 0.01, exchange: 0.0416)
        #expect(kept?.to == 120 && kept?.changed == false)
        // Best 122 (above): raised, the target is missed otherwise.
        _ = auto.record(computePerStep: 0.01, exchange: 0.0505)
        #expect(auto.record(computePerStep: 0.01, exchange: 0.0505)?.to == 122)
        // Never past 1000.
        var capped = TauAuto(share: 0.05, tau: 800, settled: true, window: 1)
        #expect(capped.settled && capped.tau == 800)
        _ = capped.record(computePerStep: 0, exchange: 0)
        #expect(capped.record(computePerStep: 0.001, exchange: 10)?.to == 1000)
    }

    @Test func parsingTheFlag() throws {
        #expect(try TauSetting(parsing: "50") == .fixed(50))
        #expect(try TauSetting(parsing: "auto") == .auto(share: 0.05))
        #expect(try TauSetting(parsing: "auto:10") == .auto(share: 0.1))
        #expect(try TauSetting(parsing: "auto:2.5%") == .auto(share: 0.025))
        #expect(try TauSetting(parsing: "auto").initialTau == TauAuto.startTau)
        for bad in ["auto:0", "auto:150", "auto:100", "auto:x", "auto:", "auto:-5", "0", "-3", "fast", ""] {
            #expect(throws: SparkNetError.self) { try TauSetting(parsing: bad) }
        }
        do {
            _ = try TauSetting(parsing: "auto:150")
        } catch let e as SparkNetError {
            #expect(e.message.contains("--tau auto:150") && e.message.contains("percent"))
        }
    }
}
