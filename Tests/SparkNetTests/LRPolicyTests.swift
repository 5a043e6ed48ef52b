import Foundation
import Testing
import CaffeProto
import SparkNet

@Suite struct LRPolicyTests {
    func param(_ text: String) throws -> Caffe_SolverParameter {
        try Caffe_SolverParameter(textFormatString: "base_lr: 0.01 " + text)
    }

    func rate(_ p: Caffe_SolverParameter, _ iter: Int) throws -> Float {
        try LearningRatePolicy.rate(p, iter: iter, currentStep: 0).rate
    }

    static let iters = [0, 1, 2, 7, 10, 33, 99, 250, 999]

    @Test func fixed() throws {
        let p = try param("lr_policy: \"fixed\" gamma: 0.5 stepsize: 2")
        for i in Self.iters { #expect(try rate(p, i) == 0.01) }
    }

    @Test func step() throws {
        let p = try param("lr_policy: \"step\" gamma: 0.5 stepsize: 10")
        for i in Self.iters {
            let expected = 0.01 * pow(0.5, Double(i / 10))
            #expect(close(try rate(p, i), expected, rel: 1e-6, abs: 0), "iter \(i)")
            #expect(try LearningRatePolicy.rate(p, iter: i, currentStep: 0).currentStep == i / 10)
        }
    }

    @Test func exp() throws {
        let p = try param("lr_policy: \"exp\" gamma: 0.99")
        for i in Self.iters {
            #expect(close(try rate(p, i), 0.01 * pow(0.99, Double(i)), rel: 1e-5, abs: 0), "iter \(i)")
        }
    }

    @Test func inv() throws {
        let p = try param("lr_policy: \"inv\" gamma: 0.0001 power: 0.75")
        for i in Self.iters {
            #expect(close(try rate(p, i), 0.01 * pow(1 + 0.0001 * Double(i), -0.75), rel: 1e-5, abs: 0), "iter \(i)")
        }
    }

    @Test func poly() throws {
        let p = try param("lr_policy: \"poly\" power: 2 max_iter: 1000")
        for i in Self.iters {
            #expect(close(try rate(p, i), 0.01 * pow(1 - Double(i) / 1000, 2), rel: 1e-5, abs: 1e-12), "iter \(i)")
        }
    }

    @Test func sigmoid() throws {
        let p = try param("lr_policy: \"sigmoid\" gamma: 0.05 stepsize: 100")
        for i in Self.iters {
            #expect(close(try rate(p, i), 0.01 / (1 + Foundation.exp(-0.05 * (Double(i) - 100))), rel: 1e-5, abs: 0), "iter \(i)")
        }
    }

    /// multistep advances current_step by at most one per call, when iter ≥ stepvalue[current_step].
    @Test func multistepAdvancesOneStepPerCall() throws {
        let p = try param("lr_policy: \"multistep\" gamma: 0.1 stepvalue: 3 stepvalue: 5 stepvalue: 9")
        var step = 0
        var seen: [(Int, Int)] = []
        for i in 0..<12 {
            let r = try LearningRatePolicy.rate(p, iter: i, currentStep: step)
            step = r.currentStep
            seen.append((i, step))
            #expect(close(r.rate, 0.01 * pow(0.1, Double(step)), rel: 1e-6, abs: 0))
        }
        #expect(seen.map(\.1) == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3])
        // Caffe's quirk: a late start catches up one step per call.
        #expect(try LearningRatePolicy.rate(p, iter: 20, currentStep: 0).currentStep == 1)
    }

    /// Through the solver: learningRate, current_step, the "lr =" log and the multistep status line.
    @Test func solverFollowsMultistep() throws {
        let solver = try tinySolver("lr_policy: \"multistep\" gamma: 0.5 stepvalue: 2 stepvalue: 4 display: 1")
        var lines: [String] = []
        solver.log = { lines.append($0) }
        var rates: [Float] = []
        for _ in 0..<6 {
            rates.append(solver.learningRate)
            try solver.step(1)
        }
        #expect(rates.map { Double($0) } == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025].map { Double(Float($0)) })
        #expect(solver.currentStep == 2)
        #expect(lines.contains("Iteration 2, lr = 0.05"))
        #expect(lines.contains("MultiStep Status: Iteration 2, step = 1"))
        #expect(lines.contains("MultiStep Status: Iteration 4, step = 2"))
    }

    @Test func badPoliciesAreErrors() throws {
        func message(_ text: String) -> String? {
            do { _ = try LearningRatePolicy.rate(try param(text), iter: 1, currentStep: 0); return nil }
            catch let e as SparkNetError { return e.message } catch { return "\(error)" }
        }
        #expect(message("lr_policy: \"cosine\"")?.contains("unknown lr_policy 'cosine'") == true)
        #expect(message("lr_policy: \"step\" gamma: 0.1")?.contains("stepsize") == true)
        #expect(message("lr_policy: \"exp\" gamma: -1")?.contains("gamma") == true)
        #expect(message("lr_policy: \"sigmoid\" gamma: 0.1")?.contains("stepsize") == true)
        // The solver refuses a bad policy when it is built, not at the first update.
        #expect(throws: SparkNetError.self) { _ = try tinySolver("lr_policy: \"cosine\"") }
    }
}
