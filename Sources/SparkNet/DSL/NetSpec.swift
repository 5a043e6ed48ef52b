import CaffeProto
import SwiftProtobuf

/// A net written in Swift: Caffe's NetParameter built from layer values, the way pycaffe's
/// `NetSpec` and SparkNet's Scala `NetParams` build it.
///
/// ```swift
/// let lenet = NetSpec("LeNet") {
///     Input("data", shapes: ["data": [64, 1, 28, 28], "label": [64]])
///     Convolution("conv1", bottom: "data", outputs: 20, kernel: 5, weightFiller: .xavier())
///     Pooling("pool1", .max, kernel: 2, stride: 2)          // bottom: the previous top, "conv1"
///     InnerProduct("ip1", outputs: 10, weightFiller: .xavier())
///     ReLU("relu1")                                         // in place: bottom and top "ip1"
///     SoftmaxWithLoss("loss", bottoms: ["ip1", "label"])
/// }
/// try lenet.validate()
/// print(lenet.prototxt)                                     // Caffe's text format
/// ```
///
/// A layer without `bottom:` reads the first top of the layer before it; a layer without `top:`
/// writes a blob named after itself, except the in-place kinds (ReLU, BatchNorm, Scale, Dropout),
/// which write over their bottom. What the types cannot rule out (an unknown bottom, a top
/// written twice, a missing required field) `validate()` reports, naming the layer.
public struct NetSpec: CustomStringConvertible, Sendable {
    /// The net in Caffe's schema, bottoms and tops filled in.
    public let param: Caffe_NetParameter

    /// Builds the net `name` from the layers `layers` lists, in order.
    public init(_ name: String, @NetSpecBuilder layers: () -> [LayerDefinition]) {
        var p = Caffe_NetParameter()
        p.name = name
        p.layer = NetSpec.connect(layers())
        param = p
    }

    /// Wraps an existing NetParameter (from a prototxt, say) to validate or print it.
    public init(_ param: Caffe_NetParameter) { self.param = param }

    /// The net in Caffe's text format (what `Prototxt.parseNet` and Caffe read back).
    public var prototxt: String { param.textFormatString() }

    public var description: String { prototxt }

    /// The layers as the builder listed them (after bottoms and tops are filled in).
    public var layers: [Caffe_LayerParameter] { param.layer }

    /// Fills in the bottoms and tops the layers left to their neighbours.
    static func connect(_ definitions: [LayerDefinition]) -> [Caffe_LayerParameter] {
        var previousTop: String?
        return definitions.map { d in
            var p = d.param
            if d.chainsBottom, let top = previousTop { p.bottom = [top] }
            if p.top.isEmpty {
                switch d.defaultTop {
                case .layerName: p.top = [p.name]
                case .inPlace: p.top = Array(p.bottom.prefix(1))
                case .none: break
                }
            }
            previousTop = p.top.first ?? previousTop
            return p
        }
    }
}

/// A blob named by a layer's top (Caffe connects layers by these names). A string literal (also
/// an interpolated one) is a `BlobRef`; a layer, a filler or a plain `String` variable is not, so
/// passing one where a bottom or top belongs does not compile.
public struct BlobRef: Hashable, Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The blob's name.
    public let name: String
    /// The blob called `name`.
    public init(_ name: String) { self.name = name }
    public init(stringLiteral name: String) { self.name = name }
    public var description: String { name }
}

/// One layer of a `NetSpec` as Caffe's LayerParameter, with what the net fills in when it joins
/// the layers (its bottom from the previous layer, its default top).
public struct LayerDefinition: Sendable {
    /// The layer's Caffe definition.
    public var param: Caffe_LayerParameter
    /// Whether the bottom is the previous layer's first top (no `bottom:` given).
    var chainsBottom: Bool
    /// What the top is when none is given.
    var defaultTop: DefaultTop

    enum DefaultTop: Sendable { case layerName, inPlace, none }

    /// A layer of Caffe type `type` reading `bottom` (or the previous layer's top) and writing
    /// `top` (or its own name, or over its bottom when `inPlace`).
    init(_ name: String, type: String, bottom: BlobRef?, top: BlobRef?, inPlace: Bool = false) {
        param = Caffe_LayerParameter()
        param.name = name
        param.type = type
        chainsBottom = bottom == nil
        if let bottom { param.bottom = [bottom.name] }
        if let top { param.top = [top.name] }
        defaultTop = inPlace ? .inPlace : .layerName
    }

    /// A layer with the bottoms and tops given (no chaining; `tops` empty means the layer's name).
    init(_ name: String, type: String, bottoms: [BlobRef], tops: [BlobRef]) {
        param = Caffe_LayerParameter()
        param.name = name
        param.type = type
        param.bottom = bottoms.map(\.name)
        param.top = tops.map(\.name)
        chainsBottom = false
        defaultTop = .layerName
    }
}

/// Anything a `NetSpec` body may list: one layer, or a group of layers.
public protocol NetSpecComponent {
    /// The layers, in order.
    var layerDefinitions: [LayerDefinition] { get }
}

/// A layer value of the DSL (`Convolution`, `ReLU`, ...). Its modifiers (`include`, `param`,
/// `lossWeight`, `with`) return a changed copy.
public protocol LayerSpec: NetSpecComponent {
    /// The layer's definition.
    var definition: LayerDefinition { get set }
}

extension LayerSpec {
    public var layerDefinitions: [LayerDefinition] { [definition] }
}

/// A run of layers built as a unit, e.g. by a function that returns one residual block.
public struct LayerGroup: NetSpecComponent {
    public let layerDefinitions: [LayerDefinition]
    /// The layers `layers` lists, in order.
    public init(@NetSpecBuilder layers: () -> [LayerDefinition]) { layerDefinitions = layers() }
}

/// The result builder behind `NetSpec { ... }` and `LayerGroup { ... }`: it takes layers and
/// groups (nothing else compiles there), `if`, `if`/`else` and `for`.
@resultBuilder
public enum NetSpecBuilder {
    public static func buildExpression(_ component: some NetSpecComponent) -> [LayerDefinition] {
        component.layerDefinitions
    }
    public static func buildBlock(_ parts: [LayerDefinition]...) -> [LayerDefinition] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [LayerDefinition]?) -> [LayerDefinition] { part ?? [] }
    public static func buildEither(first: [LayerDefinition]) -> [LayerDefinition] { first }
    public static func buildEither(second: [LayerDefinition]) -> [LayerDefinition] { second }
    public static func buildArray(_ parts: [[LayerDefinition]]) -> [LayerDefinition] { parts.flatMap { $0 } }
}

// MARK: Modifiers every layer has

extension LayerSpec {
    /// Keeps the layer only in `phase` (Caffe's `include { phase: ... }`).
    public func include(_ phase: Caffe_Phase) -> Self {
        var rule = Caffe_NetStateRule()
        rule.phase = phase
        return with { $0.include.append(rule) }
    }

    /// Drops the layer in `phase` (Caffe's `exclude { phase: ... }`).
    public func exclude(_ phase: Caffe_Phase) -> Self {
        var rule = Caffe_NetStateRule()
        rule.phase = phase
        return with { $0.exclude.append(rule) }
    }

    /// Adds the next learnable blob's `param { lr_mult decay_mult name }` (the weights', then
    /// the bias's); only the values given are written.
    public func param(lr: Float? = nil, decay: Float? = nil, name: String? = nil) -> Self {
        var spec = Caffe_ParamSpec()
        if let lr { spec.lrMult = lr }
        if let decay { spec.decayMult = decay }
        if let name { spec.name = name }
        return with { $0.param.append(spec) }
    }

    /// Sets the weight of each top in the loss (`loss_weight`).
    public func lossWeight(_ weights: Float...) -> Self {
        with { $0.lossWeight = weights }
    }

    /// Edits the LayerParameter directly, for the fields the DSL has no words for.
    public func with(_ edit: (inout Caffe_LayerParameter) -> Void) -> Self {
        var copy = self
        edit(&copy.definition.param)
        return copy
    }
}

// MARK: Fillers and shapes

extension Caffe_FillerParameter {
    /// `type: "constant"`, with `value` written only when given (Caffe's default is 0).
    public static func constant(_ value: Float? = nil) -> Self {
        var f = Self(); f.type = "constant"
        if let value { f.value = value }
        return f
    }
    /// `type: "gaussian"` with the standard deviation and, when given, the mean.
    public static func gaussian(std: Float, mean: Float? = nil) -> Self {
        var f = Self(); f.type = "gaussian"; f.std = std
        if let mean { f.mean = mean }
        return f
    }
    /// `type: "uniform"` on [min, max].
    public static func uniform(min: Float, max: Float) -> Self {
        var f = Self(); f.type = "uniform"; f.min = min; f.max = max
        return f
    }
    /// `type: "xavier"` (Glorot), scaled by fan-in unless `varianceNorm` says otherwise.
    public static func xavier(_ varianceNorm: VarianceNorm? = nil) -> Self {
        var f = Self(); f.type = "xavier"
        if let varianceNorm { f.varianceNorm = varianceNorm }
        return f
    }
    /// `type: "msra"` (He et al.), scaled by fan-in unless `varianceNorm` says otherwise.
    public static func msra(_ varianceNorm: VarianceNorm? = nil) -> Self {
        var f = Self(); f.type = "msra"
        if let varianceNorm { f.varianceNorm = varianceNorm }
        return f
    }
}

extension Model {
    /// Builds from a net and solver settings written in Swift (`NetSpec`, `SolverSpec`); both
    /// are validated first, so a mistake is reported by layer or field before any net is built.
    public convenience init(net: NetSpec, solver: SolverSpec = SolverSpec(Model.defaultSolver),
                            trainingData: BatchSource? = nil, validationData: BatchSource? = nil,
                            context: NetContext = NetContext()) throws {
        try net.validate()
        try solver.validate()
        try self.init(net: net.param, solver: solver.param, trainingData: trainingData,
                      validationData: validationData, context: context)
    }
}
