import CaffeProto
import SwiftProtobuf

/// Solver settings written in Swift: Caffe's SolverParameter, built by modifiers that each set
/// the fields they name (and nothing else, so a spec equals its prototxt twin field for field).
///
/// ```swift
/// let solver = SolverSpec(baseLR: 0.01, policy: .inv(gamma: 0.0001, power: 0.75))
///     .net(lenet)                         // or .net(file: "lenet_train_test.prototxt")
///     .momentum(0.9).weightDecay(0.0005)
///     .test(iterations: 100, every: 500)
///     .display(100).maxIter(2000)
///     .snapshot(every: 1000, prefix: "snapshots/lenet")
/// ```
public struct SolverSpec: CustomStringConvertible, Sendable {
    /// The settings in Caffe's schema.
    public var param: Caffe_SolverParameter

    /// Caffe's learning-rate policies (`lr_policy` and the fields it reads).
    public enum Policy: Sendable {
        /// base_lr throughout.
        case fixed
        /// base_lr · gamma^⌊iter/stepSize⌋.
        case step(gamma: Float, stepSize: Int)
        /// base_lr · gamma^iter.
        case exp(gamma: Float)
        /// base_lr · (1 + gamma·iter)^−power.
        case inv(gamma: Float, power: Float)
        /// like step, with the steps at the iterations given.
        case multistep(gamma: Float, steps: [Int])
        /// base_lr · (1 − iter/max_iter)^power.
        case poly(power: Float)
        /// base_lr / (1 + e^(−gamma·(iter − stepSize))).
        case sigmoid(gamma: Float, stepSize: Int)
    }

    /// Caffe's update rules (the solver `type` string).
    public enum Method: String, Sendable {
        case sgd = "SGD", nesterov = "Nesterov", adaGrad = "AdaGrad", rmsProp = "RMSProp",
             adaDelta = "AdaDelta", adam = "Adam"
    }

    /// Settings with a base learning rate and its policy (Caffe needs both).
    public init(baseLR: Float, policy: Policy) {
        param = Caffe_SolverParameter()
        param.baseLr = baseLR
        switch policy {
        case .fixed: param.lrPolicy = "fixed"
        case let .step(gamma, stepSize):
            param.lrPolicy = "step"; param.gamma = gamma; param.stepsize = Int32(clamping: stepSize)
        case let .exp(gamma): param.lrPolicy = "exp"; param.gamma = gamma
        case let .inv(gamma, power): param.lrPolicy = "inv"; param.gamma = gamma; param.power = power
        case let .multistep(gamma, steps):
            param.lrPolicy = "multistep"; param.gamma = gamma; param.stepvalue = steps.map { Int32(clamping: $0) }
        case let .poly(power): param.lrPolicy = "poly"; param.power = power
        case let .sigmoid(gamma, stepSize):
            param.lrPolicy = "sigmoid"; param.gamma = gamma; param.stepsize = Int32(clamping: stepSize)
        }
    }

    /// Wraps an existing SolverParameter.
    public init(_ param: Caffe_SolverParameter) { self.param = param }

    /// The settings in Caffe's text format.
    public var prototxt: String { param.textFormatString() }

    public var description: String { prototxt }

    /// Embeds `net` as the train and test net (`net_param`).
    public func net(_ net: NetSpec) -> Self { with { $0.netParam = net.param } }
    /// Names the net's prototxt (`net`, resolved as Caffe does).
    public func net(file path: String) -> Self { with { $0.net = path } }
    /// Tests every `every` iterations, `iterations` batches each time.
    public func test(iterations: Int, every: Int) -> Self {
        with { $0.testIter = [Int32(clamping: iterations)]; $0.testInterval = Int32(clamping: every) }
    }
    /// Whether to test before the first iteration (Caffe's default: yes).
    public func testInitialization(_ on: Bool) -> Self { with { $0.testInitialization = on } }
    /// The update rule (`type`).
    public func method(_ method: Method) -> Self { with { $0.type = method.rawValue } }
    /// Momentum (SGD, Nesterov; Adam's beta1).
    public func momentum(_ m: Float) -> Self { with { $0.momentum = m } }
    /// Adam's beta2.
    public func momentum2(_ m: Float) -> Self { with { $0.momentum2 = m } }
    /// RMSProp's decay.
    public func rmsDecay(_ d: Float) -> Self { with { $0.rmsDecay = d } }
    /// AdaGrad's, AdaDelta's and Adam's numerical guard.
    public func delta(_ d: Float) -> Self { with { $0.delta = d } }
    /// Weight decay (L2 unless `regularization` says "L1").
    public func weightDecay(_ d: Float, regularization: String? = nil) -> Self {
        with { $0.weightDecay = d; if let regularization { $0.regularizationType = regularization } }
    }
    /// Clips the gradient's L2 norm to `norm`.
    public func clipGradients(_ norm: Float) -> Self { with { $0.clipGradients = norm } }
    /// Accumulates gradients over `n` batches per update.
    public func iterSize(_ n: Int) -> Self { with { $0.iterSize = Int32(clamping: n) } }
    /// Logs the loss every `n` iterations, smoothed over `averageLoss` of them.
    public func display(_ n: Int, averageLoss: Int? = nil) -> Self {
        with { $0.display = Int32(clamping: n); if let averageLoss { $0.averageLoss = Int32(clamping: averageLoss) } }
    }
    /// Stops after `n` iterations.
    public func maxIter(_ n: Int) -> Self { with { $0.maxIter = Int32(clamping: n) } }
    /// Writes .caffemodel and .solverstate every `every` iterations (0: only at the end) to `prefix`_iter_N.
    public func snapshot(every: Int, prefix: String) -> Self {
        with { $0.snapshot = Int32(clamping: every); $0.snapshotPrefix = prefix }
    }
    /// The random seed (fillers, dropout, shuffling).
    public func randomSeed(_ seed: Int64) -> Self { with { $0.randomSeed = seed } }
    /// `solver_mode` (SparkNet runs on the CPU whatever it says).
    public func mode(_ mode: Caffe_SolverParameter.SolverMode) -> Self { with { $0.solverMode = mode } }

    /// Edits the SolverParameter directly, for the fields the builder has no words for.
    public func with(_ edit: (inout Caffe_SolverParameter) -> Void) -> Self {
        var copy = self
        edit(&copy.param)
        return copy
    }

    /// Checks what Caffe would refuse at start-up: a positive base_lr, a policy the engine knows,
    /// test_iter with test_interval, and the embedded net (`NetSpec.validate`).
    public func validate() throws {
        try require(param.baseLr > 0, "solver: base_lr must be positive, got \(param.baseLr)")
        try require(LearningRatePolicy.names.contains(param.lrPolicy),
                    "solver: unknown lr_policy '\(param.lrPolicy)' (expected one of \(LearningRatePolicy.names.joined(separator: ", ")))")
        if param.type != "" {
            try require(Method(rawValue: param.type) != nil,
                        "solver: unknown type '\(param.type)' (expected one of SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)")
        }
        try require(param.testIter.allSatisfy { $0 > 0 }, "solver: test_iter must be positive, got \(param.testIter)")
        try require(param.testInterval == 0 || !param.testIter.isEmpty,
                    "solver: test_interval \(param.testInterval) without test_iter (use .test(iterations:every:))")
        if param.hasNetParam { try NetSpec(param.netParam).validate() }
    }
}
