import Foundation
import SparkNet

/// The few collectives a converting tool needs, so that the same code runs on every rank of the
/// job (`Communicator.world`) or on one process alone (`Solo`, e.g. a single LMDB writer).
public protocol RankGroup {
    var rank: Int { get }
    var size: Int { get }
    /// The minimum / sum of `value` over the ranks.
    func minimum(_ value: Int) -> Int
    func sum(_ value: Int) -> Int
    /// Every rank's `value`, indexed by rank.
    func allgather(_ value: Int) -> [Int]
    /// `root`'s integers on every rank.
    func broadcast(_ values: [Int], root: Int) -> [Int]
    /// `root`'s bytes on every rank.
    func broadcastBytes(_ bytes: [UInt8], root: Int) -> [UInt8]
    /// Every rank's strings, in rank order, on rank 0 (empty elsewhere).
    func gatherToRoot(_ strings: [String]) -> [String]
    /// Runs `body` everywhere and agrees on the outcome: on failure every rank throws a
    /// `CollectiveError` and one carries the message (see `Communicator.agree`).
    func agreeing<T>(_ body: () throws -> T) throws -> T
}

extension RankGroup {
    /// `agreeing`, spelled like Communicator's.
    func agree<T>(_ body: () throws -> T) throws -> T { try agreeing(body) }
}

/// One process on its own: every collective is the identity.
public struct Solo: RankGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func minimum(_ value: Int) -> Int { value }
    public func sum(_ value: Int) -> Int { value }
    public func allgather(_ value: Int) -> [Int] { [value] }
    public func broadcast(_ values: [Int], root: Int) -> [Int] { values }
    public func broadcastBytes(_ bytes: [UInt8], root: Int) -> [UInt8] { bytes }
    public func gatherToRoot(_ strings: [String]) -> [String] { strings }
    public func agreeing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SparkNetError { throw CollectiveError(message: e.message) }
    }
}

extension Communicator: RankGroup {
    public func minimum(_ value: Int) -> Int { allreduce(value, .min) }
    public func sum(_ value: Int) -> Int { allreduce(value, .sum) }
    public func allgather(_ value: Int) -> [Int] { allgather(UInt64(bitPattern: Int64(value))).map { Int(Int64(bitPattern: $0)) } }
    public func broadcast(_ values: [Int], root: Int) -> [Int] {
        let bytes = values.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } }
        let out = bcast(bytes, root: root)
        return stride(from: 0, to: out.count, by: 8).map { i in
            Int(Int64(littleEndian: out[i..<(i + 8)].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
        }
    }
    public func broadcastBytes(_ bytes: [UInt8], root: Int) -> [UInt8] { bcast(bytes, root: root) }
    /// Each rank in turn broadcasts its strings (NUL-separated): size rounds, fine for the
    /// short reports this carries.
    public func gatherToRoot(_ strings: [String]) -> [String] {
        guard size > 1 else { return strings }
        var all: [String] = []
        for r in 0..<size {
            let bytes = bcast(rank == r ? Array(strings.joined(separator: "\0").utf8) : [], root: r)
            if isRoot, !bytes.isEmpty { all += bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
        }
        return all
    }
    public func agreeing<T>(_ body: () throws -> T) throws -> T { try agree(timeout: 60, body) }
}
