import Foundation

/// A seeded generator (xoshiro256**) so that runs are reproducible bit for bit given the seed.
/// Its whole state is four words, which snapshots save for exact resume.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public var words: [UInt64] {
        get { [state.0, state.1, state.2, state.3] }
        set { precondition(newValue.count == 4); state = (newValue[0], newValue[1], newValue[2], newValue[3]) }
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [a, b).
    @inline(__always)
    public mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * nextUnit() }

    /// Normal(mean, std) by Box–Muller.
    public mutating func gaussian(mean: Float, std: Float) -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let z = (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
        return mean + std * Float(z)
    }

    /// A uniformly random integer in 0..<n.
    public mutating func index(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
