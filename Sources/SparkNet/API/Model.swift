import CaffeProto

/// SparkNet's `Net` interface for programs that embed the engine: a solver and its nets behind
/// five calls — feed data, train, test, read weights, write weights.
///
/// ```swift
/// let model = try Model(solverPrototxt: "lenet_solver.prototxt",
///                       trainingData: trainSource, validationData: testSource)
/// try model.train(steps: 100)
/// print(try model.test(steps: 10))        // ["accuracy": 0.97, "loss": 0.08]
/// let w = model.weights                   // average these across workers, then
/// try model.setWeights(w)
/// ```
///
/// Data reaches the nets' data layers (HDF5Data) through `BatchSource`s: the training source
/// feeds the TRAIN net, the validation source the TEST net. Both can be swapped later with the
/// same sample shapes (`setTrainingData`, `setValidationData`).
public final class Model {
    /// The solver (Caffe's settings, learning-rate policy, update rule, snapshots).
    public let solver: Solver
    /// Where the TEST net's definition comes from when the solver has no test net (see `testNet`).
    private let netSource: () throws -> Caffe_NetParameter
    private let context: NetContext
    private let data: DataSources
    private var ownTestNet: Net?

    /// The current sources, read by the context's provider whenever a net is built.
    private final class DataSources {
        var training: BatchSource?
        var validation: BatchSource?
    }

    /// The TRAIN net.
    public var net: Net { solver.net }

    /// Builds from a solver prototxt (read and upgraded as Caffe does; net paths are resolved
    /// beside it). A data source given here feeds every data layer of its phase.
    public convenience init(solverPrototxt path: String, trainingData: BatchSource? = nil,
                            validationData: BatchSource? = nil, context: NetContext = NetContext()) throws {
        try self.init(solver: try Prototxt.readSolver(path), solverPath: path, trainingData: trainingData,
                      validationData: validationData, context: context)
    }

    /// Builds from a SolverParameter (which names its net by path or embeds it).
    public init(solver param: Caffe_SolverParameter, solverPath: String? = nil,
                trainingData: BatchSource? = nil, validationData: BatchSource? = nil,
                context: NetContext = NetContext()) throws {
        self.context = context
        let data = DataSources()
        data.training = trainingData
        data.validation = validationData
        self.data = data
        let fallback = context.sourceProvider
        // Data layers ask the context for their source while the nets are built.
        context.sourceProvider = { layer, phase in
            if phase == .train, let s = data.training { return s }
            if phase == .test, let s = data.validation { return s }
            if let fallback { return try fallback(layer, phase) }
            throw SparkNetError("layer '\(layer.name)' (\(layer.type)): no \(phase == .train ? "training" : "validation") data; pass \(phase == .train ? "trainingData" : "validationData") to Model")
        }
        solver = try Solver(param: param, solverPath: solverPath, context: context)
        let p = solver.param
        netSource = {
            if p.hasNetParam { return p.netParam }
            if p.hasTrainNetParam { return p.trainNetParam }
            return try Solver.readNet(p.hasNet ? p.net : p.trainNet, solverPath: solverPath)
        }
    }

    /// Builds from a net definition and solver settings (`solver`'s own net fields are replaced
    /// by `net`). The default settings are plain SGD at a fixed learning rate of 0.01.
    public convenience init(net: Caffe_NetParameter, solver settings: Caffe_SolverParameter = Model.defaultSolver,
                            trainingData: BatchSource? = nil, validationData: BatchSource? = nil,
                            context: NetContext = NetContext()) throws {
        var p = settings
        p.clearNet(); p.clearTrainNet(); p.clearTrainNetParam()
        p.testNet = []; p.testNetParam = []
        p.netParam = net
        try self.init(solver: p, trainingData: trainingData, validationData: validationData, context: context)
    }

    /// SGD, `lr_policy: "fixed"`, `base_lr: 0.01`, no display, no snapshots.
    public static var defaultSolver: Caffe_SolverParameter {
        var p = Caffe_SolverParameter()
        p.baseLr = 0.01
        p.lrPolicy = "fixed"
        p.type = "SGD"
        return p
    }

    // MARK: Data

    /// Feeds the TRAIN net's data layers from `source` from the next step on. The source must
    /// provide every top of those layers with the same sample shapes as before.
    public func setTrainingData(_ source: BatchSource) throws {
        try Model.swap(source, in: net, what: "training")
        data.training = source
    }

    /// Feeds the TEST nets' data layers from `source`.
    public func setValidationData(_ source: BatchSource) throws {
        for t in solver.testNets + (ownTestNet.map { [$0] } ?? []) {
            try Model.swap(source, in: t, what: "validation")
        }
        data.validation = source
    }

    private static func swap(_ source: BatchSource, in net: Net, what: String) throws {
        let dataLayers = net.layers.compactMap { $0 as? DataLayer }
        try require(!dataLayers.isEmpty,
                    "Model: net '\(net.name)' has no data layer to take \(what) data (expected an HDF5Data layer)")
        for l in dataLayers { try l.setSource(source) }
    }

    // MARK: Training and testing

    /// Runs `steps` solver iterations (forward, backward, update; with the solver's display,
    /// test and snapshot settings). Returns the smoothed training loss after the last one.
    @discardableResult
    public func train(steps: Int) throws -> Float {
        try require(steps >= 0, "Model.train: steps must be non-negative, got \(steps)")
        try solver.step(steps)
        return solver.smoothedLoss
    }

    /// The TEST net: the solver's first test net, or else one built from the train net's
    /// definition in the TEST phase (fed by the validation data).
    public func testNet() throws -> Net {
        if let t = existingTestNet { return t }
        let t = try Solver.makeNet(try netSource(), phase: .test, override: nil, context: context)
        ownTestNet = t
        return t
    }

    private var existingTestNet: Net? { solver.testNets.first ?? ownTestNet }

    /// Runs the TEST net `steps` batches with the current weights and returns the mean of each
    /// output over them (a scalar output by its blob name, element k of a larger one as
    /// "name[k]").
    public func test(steps: Int) throws -> [String: Float] {
        try require(steps > 0, "Model.test: steps must be positive, got \(steps)")
        let t = try testNet()
        t.copyParams(from: net)
        var sums: [String: Double] = [:]
        for _ in 0..<steps {
            try t.forward()
            for (b, name) in zip(t.outputBlobs, t.outputBlobNames) {
                for k in 0..<b.count {
                    sums[b.count == 1 ? name : "\(name)[\(k)]", default: 0] += Double(b.data[k])
                }
            }
        }
        return sums.mapValues { Float($0 / Double(steps)) }
    }

    // MARK: Weights

    /// A copy of the TRAIN net's parameter blobs, by layer name.
    public var weights: Weights { net.exportWeights() }

    /// Replaces the TRAIN net's parameters (the test net follows at the next test). Names, blob
    /// counts and shapes must match the net.
    public func setWeights(_ weights: Weights) throws {
        try net.setWeights(weights)
    }
}
