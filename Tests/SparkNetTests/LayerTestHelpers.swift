import Foundation
import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

/// Layers hold their NetContext `unowned` (a Net owns it), so a layer built alone needs its
/// context kept alive elsewhere: this keeps every test context for the life of the process.
private final class ContextKeeper: @unchecked Sendable {
    private let lock = NSLock()
    private var contexts: [NetContext] = []
    func keep(_ c: NetContext) -> NetContext { lock.lock(); contexts.append(c); lock.unlock(); return c }
}
private let keeper = ContextKeeper()

/// A NetContext that outlives every layer built on it in a test.
func testContext(seed: UInt64 = 1701) -> NetContext { keeper.keep(NetContext(seed: seed)) }

/// A layer built from `text` on a context that stays alive.
func makeLayer(_ text: String, phase: Caffe_Phase = .train, context: NetContext = testContext()) throws -> Layer {
    try Fixtures.layer(text, phase: phase, context: keeper.keep(context))
}

/// Builds the layer `text` describes, runs the finite-difference check on `bottoms` and expects
/// no mismatches and at least one probed element.
func expectGradientsMatch(_ text: String, _ bottoms: [Blob], tops: Int = 1, phase: Caffe_Phase = .train,
                          checker: GradientChecker = GradientChecker(), checkBottoms: [Int]? = nil,
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
    let layer = try makeLayer(text, phase: phase)
    let top = (0..<tops).map { _ in Blob() }
    let r = try checker.check(layer, bottom: bottoms, top: top, checkBottoms: checkBottoms)
    #expect(r.failures.isEmpty, "\(layer.label): \(r.failures.prefix(5))", sourceLocation: sourceLocation)
    #expect(r.probed > 0, "\(layer.label): nothing probed", sourceLocation: sourceLocation)
}

/// Sets up `text` on `bottoms`, runs forward, and returns the tops.
func runForward(_ text: String, _ bottoms: [Blob], tops: Int = 1, phase: Caffe_Phase = .train,
                context: NetContext = testContext()) throws -> (layer: Layer, tops: [Blob]) {
    let layer = try makeLayer(text, phase: phase, context: context)
    let top = (0..<tops).map { _ in Blob() }
    try layer.setUpAndReshape(bottom: bottoms, top: top)
    try layer.forward(bottom: bottoms, top: top)
    return (layer, top)
}

/// The message of the SparkNetError `body` throws, or nil (recording an issue) when it does not.
func errorMessage(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> String? {
    do {
        try body()
        Issue.record("expected a SparkNetError", sourceLocation: sourceLocation)
    } catch let e as SparkNetError {
        return e.message
    } catch {
        Issue.record("expected a SparkNetError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

func expectClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "counts \(a.count) vs \(b.count)", sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) where abs(x - y) > tol * max(1, abs(y)) {
        Issue.record("\(a) vs expected \(b)", sourceLocation: sourceLocation)
        return
    }
}
