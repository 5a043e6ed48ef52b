/// An error a user can act on: it names the culprit (file, line, layer, blob or field) and what
/// was expected. The CLI prints `description` once and exits non-zero.
public struct SparkNetError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Throws a `SparkNetError` with `message` unless `condition` holds.
@inline(__always)
public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw SparkNetError(message()) }
}
