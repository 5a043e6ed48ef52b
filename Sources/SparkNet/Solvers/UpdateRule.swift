import CaffeProto

/// One learnable parameter's slice of the arenas, handed to an `UpdateRule`.
public struct ParamSlice {
    /// Number of elements.
    public let count: Int
    /// The gradient (clipped, normalized, regularized); the rule overwrites it with the update
    /// the net subtracts from the weights.
    public let gradient: UnsafeMutablePointer<Float>
    /// The first history arena's slice (momentum, squared-gradient sum, Adam's m, ...).
    public let history: UnsafeMutablePointer<Float>
    /// The second history arena's slice (AdaDelta's update history, Adam's v); nil for rules with
    /// one history.
    public let history2: UnsafeMutablePointer<Float>?
}

/// How a solver type turns a gradient into an update (Caffe's `ComputeUpdateValue`). The solver
/// does everything else (learning rate, clipping, iter_size normalization, weight decay, and
/// weights −= update).
public protocol UpdateRule {
    /// Caffe's solver type string.
    var type: String { get }
    /// How many history arenas the rule keeps (Caffe's history_ holds this many blobs per param).
    var historyCount: Int { get }
    /// Turns `p.gradient` into the update in place, updating the history slices.
    /// `localRate` is rate · lr_mult; `iter` is the solver's iteration (Adam's t = iter + 1).
    func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int)
}

/// The update rules by Caffe's type string.
public enum UpdateRules {
    public static let types = ["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"]

    /// The rule `param.type` names, with Caffe's checks of its settings.
    public static func make(_ param: Caffe_SolverParameter) throws -> UpdateRule {
        switch param.type {
        case "SGD": return SGDRule(momentum: param.momentum)
        case "Nesterov": return NesterovRule(momentum: param.momentum)
        case "AdaGrad":
            try require(param.momentum == 0, "solver: momentum cannot be used with AdaGrad (momentum: \(param.momentum)), expected 0")
            return AdaGradRule(delta: param.delta)
        case "RMSProp":
            try require(param.momentum == 0, "solver: momentum cannot be used with RMSProp (momentum: \(param.momentum)), expected 0")
            try require(param.rmsDecay >= 0 && param.rmsDecay < 1,
                        "solver: rms_decay should lie between 0 and 1, got \(param.rmsDecay)")
            return RMSPropRule(rmsDecay: param.rmsDecay, delta: param.delta)
        case "AdaDelta": return AdaDeltaRule(momentum: param.momentum, delta: param.delta)
        case "Adam": return AdamRule(beta1: param.momentum, beta2: param.momentum2, delta: param.delta)
        default:
            throw SparkNetError("solver: unknown solver type '\(param.type)' (supported: \(types.joined(separator: ", ")))")
        }
    }
}
