import Foundation
import CaffeProto
import SwiftProtobuf

/// Caffe's `.solverstate` (a SolverState protobuf: iter, learned_net, history, current_step).
public enum SolverStateFile {
    static let expected = "expected a binary .solverstate (a Caffe SolverState protobuf)"

    /// Writes `state` atomically.
    public static func write(_ state: Caffe_SolverState, to path: String) throws {
        let bytes: Data
        do { bytes = try state.serializedBytes() } catch {
            throw SparkNetError("\(path): cannot encode the solver state: \(error)")
        }
        try AtomicFile.write(bytes, to: path)
    }

    /// Reads a binary `.solverstate`; errors name the file and what was expected.
    public static func read(_ path: String) throws -> Caffe_SolverState {
        if path.hasSuffix(".h5") {
            throw SparkNetError("\(path): HDF5 solver states are not supported; \(Self.expected)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("\(path): solver state file not found; \(Self.expected)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SparkNetError("\(path): cannot read the solver state file; \(Self.expected)")
        }
        return try decode(data, source: path)
    }

    /// Decodes a `.solverstate`'s bytes (`source` names them in errors).
    public static func decode(_ data: Data, source path: String) throws -> Caffe_SolverState {
        guard !data.isEmpty else { throw SparkNetError("\(path): the solver state file is empty; \(Self.expected)") }
        do {
            return try Caffe_SolverState(serializedBytes: data)
        } catch {
            throw SparkNetError("\(path): not a valid solver state, truncated or corrupt (\(error)); \(Self.expected)")
        }
    }
}

/// What a Caffe `.solverstate` does not hold but an exact resume needs, kept beside it as
/// `<state>.sparknet` (JSON): the generator's words, every data source's position and the
/// smoothed-loss window. Caffe ignores the file; SparkNet reads it when present.
public struct SolverSidecar: Codable, Equatable {
    /// One data layer's source position.
    public struct SourcePosition: Codable, Equatable {
        /// "train", or "test#<i>" for test net i.
        public var net: String
        public var layer: String
        public var position: Int
        public init(net: String, layer: String, position: Int) {
            self.net = net; self.layer = layer; self.position = position
        }
    }

    public var format = "sparknet-solverstate-sidecar"
    public var version = 1
    /// The iteration of the snapshot (checked against the .solverstate).
    public var iter: Int
    /// NetContext.rng words, as hex (JSON numbers lose 64-bit precision in many readers).
    public var rng: [String]
    public var sources: [SourcePosition]
    /// The smoothed-loss window (Float bit patterns, so values round-trip exactly).
    public var lossBits: [UInt32]
    public var smoothedLossBits: UInt32
    /// How many losses have entered the window (the ring position).
    public var lossUpdates: Int
    /// State of the distributed trainer that a resume keeps (e.g. `--tau auto`'s τ); absent in
    /// older sidecars.
    public var extras: [String: String]?

    public init(iter: Int, rng: [UInt64], sources: [SourcePosition], losses: [Float],
                smoothedLoss: Float, lossUpdates: Int) {
        self.iter = iter
        self.rng = rng.map { String($0, radix: 16) }
        self.sources = sources
        self.lossBits = losses.map(\.bitPattern)
        self.smoothedLossBits = smoothedLoss.bitPattern
        self.lossUpdates = lossUpdates
    }

    public var rngWords: [UInt64]? {
        let w = rng.compactMap { UInt64($0, radix: 16) }
        return w.count == 4 && rng.count == 4 ? w : nil
    }
    public var losses: [Float] { lossBits.map(Float.init(bitPattern:)) }
    public var smoothedLoss: Float { Float(bitPattern: smoothedLossBits) }

    /// The sidecar's path for a `.solverstate` path.
    public static func path(forState statePath: String) -> String { statePath + ".sparknet" }

    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try enc.encode(self) } catch {
            throw SparkNetError("\(path): cannot encode the resume sidecar: \(error)")
        }
        try AtomicFile.write(data, to: path)
    }

    /// Reads a sidecar, or nil when there is none.
    public static func readIfPresent(_ path: String) throws -> SolverSidecar? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SparkNetError("\(path): cannot read the resume sidecar")
        }
        let s: SolverSidecar
        do { s = try JSONDecoder().decode(SolverSidecar.self, from: data) } catch {
            throw SparkNetError("\(path): not a valid SparkNet resume sidecar (\(error)); expected the JSON SparkNet writes beside a .solverstate")
        }
        try require(s.format == "sparknet-solverstate-sidecar" && s.version == 1,
                    "\(path): unknown sidecar format '\(s.format)' version \(s.version), expected sparknet-solverstate-sidecar version 1")
        try require(s.rngWords != nil, "\(path): 'rng' must hold 4 hexadecimal words, got \(s.rng)")
        return s
    }
}
