import Foundation
import CaffeProto

/// Caffe's learning-rate policies (SGDSolver::GetLearningRate), with Caffe's arithmetic: `pow`
/// with an integer exponent runs in double (C++ promotes `pow(float, int)`), the others in float.
///
/// - fixed:     base_lr
/// - step:      base_lr · gamma ^ floor(iter / stepsize)
/// - exp:       base_lr · gamma ^ iter
/// - inv:       base_lr · (1 + gamma · iter) ^ (−power)
/// - multistep: base_lr · gamma ^ current_step, current_step advancing by one whenever
///              iter ≥ stepvalue[current_step]
/// - poly:      base_lr · (1 − iter / max_iter) ^ power
/// - sigmoid:   base_lr / (1 + exp(−gamma · (iter − stepsize)))
public enum LearningRatePolicy {
    public static let names = ["fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid"]

    /// The rate at `iter`, and the `current_step` Caffe stores after computing it (`step` sets it
    /// to iter / stepsize; `multistep` advances it by at most one per call, as Caffe does).
    public static func rate(_ p: Caffe_SolverParameter, iter: Int,
                            currentStep: Int) throws -> (rate: Float, currentStep: Int) {
        let base = p.baseLr
        func gammaNonNegative() throws {
            try require(p.gamma >= 0, "solver: lr_policy '\(p.lrPolicy)' needs gamma >= 0, got \(p.gamma)")
        }
        func powD(_ x: Float, _ n: Int) -> Float { Float(Double(base) * Foundation.pow(Double(x), Double(n))) }
        switch p.lrPolicy {
        case "fixed":
            return (base, currentStep)
        case "step":
            try require(p.stepsize > 0, "solver: lr_policy 'step' needs stepsize > 0, got \(p.stepsize)")
            try gammaNonNegative()
            let step = iter / Int(p.stepsize)
            return (powD(p.gamma, step), step)
        case "exp":
            try gammaNonNegative()
            return (powD(p.gamma, iter), currentStep)
        case "inv":
            try gammaNonNegative()
            return (base * powf(1 + p.gamma * Float(iter), -p.power), currentStep)
        case "multistep":
            var step = currentStep
            if step < p.stepvalue.count && iter >= Int(p.stepvalue[step]) { step += 1 }
            try gammaNonNegative()
            return (powD(p.gamma, step), step)
        case "poly":
            return (base * powf(1 - Float(iter) / Float(p.maxIter), p.power), currentStep)
        case "sigmoid":
            try gammaNonNegative()
            try require(p.stepsize > 0, "solver: lr_policy 'sigmoid' needs stepsize > 0, got \(p.stepsize)")
            return (base * (1 / (1 + expf(-p.gamma * (Float(iter) - Float(p.stepsize))))), currentStep)
        default:
            throw SparkNetError("solver: unknown lr_policy '\(p.lrPolicy)' (supported: \(names.joined(separator: ", ")))")
        }
    }
}
