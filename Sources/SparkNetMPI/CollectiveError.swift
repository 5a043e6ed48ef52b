import Foundation
import SparkNet

/// An error every rank knows about, because the ranks agreed on it at a start-up checkpoint.
/// Exactly one rank carries the `message`; the others carry nil. Every rank should exit with a
/// non-zero code without MPI_Abort, and only the rank with a message prints it.
public struct CollectiveError: Error, CustomStringConvertible {
    /// The message to print, on the one rank that prints it; nil on the others.
    public let message: String?
    public init(message: String?) { self.message = message }
    public var description: String { message ?? "(reported by another rank)" }
}

extension Communicator {
    /// Runs `body` on every rank and agrees on the outcome.
    ///
    /// If `body` throws on no rank, returns its value. If it throws on some ranks, every rank
    /// throws a `CollectiveError`: the lowest failing rank carries the message, prefixed with
    /// "rank R: " unless every rank failed (the same bad input everywhere). A failing rank waits at most `timeout` seconds for the others to reach the
    /// checkpoint (they may be stuck in a collective the failing rank skipped); after that it
    /// rethrows its own error, which the caller should report with its rank and MPI_Abort.
    ///
    /// `body` must not call collectives of this communicator.
    public func agree<T>(timeout: Double = 15, _ body: () throws -> T) throws -> T {
        try agree(rootOnly: false, timeout: timeout, body)!
    }

    /// `agree` for a check only rank 0 can make (files rank 0 writes); an error is printed
    /// without a rank, as bad input.
    public func agreeOnRoot(timeout: Double = 15, _ body: () throws -> Void) throws {
        _ = try agree(rootOnly: true, timeout: timeout, body)
    }

    /// Returns nil on ranks that did not run `body`.
    private func agree<T>(rootOnly: Bool, timeout: Double, _ body: () throws -> T) throws -> T? {
        var value: T? = nil
        var failure: Error? = nil
        if !rootOnly || isRoot {
            do { value = try body() } catch { failure = error }
        }
        let failed: Int
        if size == 1 {
            failed = failure != nil ? 1 : 0
        } else if failure != nil {
            guard let n = allreduce(1, .sum, timeout: timeout) else { throw failure! }
            failed = n
        } else {
            // Non-blocking too: a blocking collective never matches a non-blocking one.
            failed = allreduce(0, .sum, timeout: .infinity)!
        }
        if failed == 0 { return value }
        let first = size == 1 ? 0 : allreduce(failure != nil ? rank : size, .min)
        guard rank == first, let failure else { throw CollectiveError(message: nil) }
        let text = (failure as? SparkNetError)?.message ?? (failure as? CollectiveError)?.message ?? "\(failure)"
        let shared = rootOnly || failed == size
        throw CollectiveError(message: shared ? text : "rank \(rank): \(text)")
    }
}
